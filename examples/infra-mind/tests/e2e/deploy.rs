//! The deployment files in `deploy/`: Prometheus's config passes `promtool check config` with
//! the shipped rules, and every file compose mounts exists. (`deploy/check.sh` also validates
//! compose.yml against the Compose specification with check-jsonschema.)

use std::path::{Path, PathBuf};
use std::process::Command;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

#[test]
fn prometheus_config_passes_promtool_with_the_shipped_rules() {
    let scratch = std::env::temp_dir().join(format!("infra-mind-deploy-{}", std::process::id()));
    std::fs::create_dir_all(scratch.join("rules")).unwrap();
    std::fs::copy(
        deploy_dir().join("prometheus.yml"),
        scratch.join("prometheus.yml"),
    )
    .unwrap();
    std::fs::copy(
        deploy_dir().join("../docs/operations/prometheus-rules.yml"),
        scratch.join("rules/infra-mind.yml"),
    )
    .unwrap();
    let output = Command::new("promtool")
        .args(["check", "config"])
        .arg(scratch.join("prometheus.yml"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run promtool ({e}): install the prometheus package (Debian/Ubuntu: apt-get install -y prometheus)"));
    let _ = std::fs::remove_dir_all(&scratch);
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{report}");
    assert!(
        report.contains("1 rule files found"),
        "the rules are loaded: {report}"
    );
}

#[test]
fn every_file_compose_mounts_exists() {
    let compose = std::fs::read_to_string(deploy_dir().join("compose.yml")).unwrap();
    let mounts: Vec<&str> = compose
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- "))
        .filter(|l| l.starts_with("./") || l.starts_with("../"))
        .filter_map(|l| l.split(':').next())
        .collect();
    assert!(mounts.len() >= 4, "{mounts:?}");
    for mount in mounts {
        assert!(
            deploy_dir().join(mount).exists(),
            "compose mounts {mount}, which does not exist"
        );
    }
    let dockerfile = std::fs::read_to_string(deploy_dir().join("Dockerfile")).unwrap();
    assert!(dockerfile.contains("cargo build --release --locked -p infra-mind"));
    assert!(
        dockerfile.contains("FROM rust:1.95"),
        "the builder meets the example's rust-version"
    );
}

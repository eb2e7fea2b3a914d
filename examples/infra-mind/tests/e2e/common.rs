//! `TestApp`: the real server on `127.0.0.1:0`, driven with a real HTTP client, on either
//! store. `both_backends!` runs one scenario against the embedded store and MongoDB.

use std::net::SocketAddr;
use std::sync::Arc;

use infra_mind::config::Config;
use infra_mind::repo::Repository;
use infra_mind::repo::memory::MemoryRepository;
use infra_mind::startup::{Parts, Server};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Runs each named `async fn(TestApp)` twice: on an empty embedded store and on MongoDB.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => { $(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn embedded() {
                super::$name($crate::common::TestApp::embedded().await).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mongodb() {
                super::$name($crate::common::TestApp::mongodb().await).await;
            }
        }
    )* };
}

/// A running server and a client for it.
#[derive(Debug)]
pub(crate) struct TestApp {
    pub(crate) addr: SocketAddr,
    pub(crate) admin_token: String,
    pub(crate) repo: Arc<dyn Repository>,
    /// The server's registry (to refresh the business gauges on demand).
    pub(crate) metrics: inframind_metrics::Metrics,
    pub(crate) client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    pub(crate) task: Option<JoinHandle<std::io::Result<()>>>,
    _mongo: Option<inframind_test_support::TestMongo>,
    _redis: Option<inframind_test_support::TestRedis>,
}

/// An answer: status, headers and the body parsed as JSON (`Null` when it is not JSON).
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: Value,
    pub(crate) bytes: Vec<u8>,
}

impl Answer {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the JSON error shape and returns the code.
    pub(crate) fn error_code(&self) -> &str {
        let error = &self.body["error"];
        assert!(
            error["message"].is_string(),
            "no error message in {}",
            self.body
        );
        let id = error["request_id"].as_str().unwrap_or_default();
        assert!(!id.is_empty(), "no request_id in {}", self.body);
        assert_eq!(
            Some(id),
            self.header("x-request-id"),
            "body and header ids differ"
        );
        error["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code in {}", self.body))
    }
}

impl TestApp {
    /// An empty embedded store (no demo data, so both backends start alike).
    pub(crate) async fn embedded() -> Self {
        Self::start(Config::embedded(), Arc::new(MemoryRepository::new()), None).await
    }

    /// A database of its own on the shared MongoDB wire server.
    pub(crate) async fn mongodb() -> Self {
        Self::mongodb_with(|_| {}).await
    }

    /// As [`Self::mongodb`], with `configure` applied to the configuration.
    pub(crate) async fn mongodb_with(configure: impl FnOnce(&mut Config)) -> Self {
        let mongo = inframind_test_support::mongodb();
        let mut config = Config::embedded();
        configure(&mut config);
        config.mongodb_uri = Some(mongo.uri().to_owned());
        config.mongodb_db = mongo.database().to_owned();
        let redis = inframind_test_support::redis();
        config.redis_url = Some(redis.url().to_owned());
        config.redis_key_prefix = Some(redis.prefix().to_owned());
        let metrics = inframind_metrics::Metrics::new();
        let repo = infra_mind::startup::open_store(&config, &metrics)
            .await
            .expect("MongoDB store opens");
        let parts = Parts {
            repo: Arc::clone(&repo),
            metrics,
            clock: None,
        };
        let server = Server::with_parts(config, parts)
            .await
            .expect("server binds");
        let mut app = Self::spawn(server, repo, Some(mongo));
        app._redis = Some(redis);
        app
    }

    /// A server over `repo` with `config`.
    pub(crate) async fn start(
        config: Config,
        repo: Arc<dyn Repository>,
        mongo: Option<inframind_test_support::TestMongo>,
    ) -> Self {
        let server = Server::with_store(config, Arc::clone(&repo))
            .await
            .expect("server binds");
        Self::spawn(server, repo, mongo)
    }

    /// Serves a built server in the background.
    pub(crate) fn spawn(
        server: Server,
        repo: Arc<dyn Repository>,
        mongo: Option<inframind_test_support::TestMongo>,
    ) -> Self {
        let addr = server.local_addr().expect("bound");
        let admin_token = server.admin_token().to_owned();
        let metrics = server.state().metrics.clone();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run_until(async {
            let _ = rx.await;
        }));
        Self {
            addr,
            admin_token,
            repo,
            metrics,
            client: reqwest::Client::new(),
            shutdown: Some(tx),
            task: Some(task),
            _mongo: mongo,
            _redis: None,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Starts a graceful shutdown.
    pub(crate) fn shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    pub(crate) async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body").to_vec();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
            bytes,
        }
    }

    pub(crate) fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let request = self.client.request(method, self.url(path));
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    pub(crate) async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        self.send(self.request(Method::GET, path, token)).await
    }

    pub(crate) async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Answer {
        self.send(self.request(Method::POST, path, token).json(body))
            .await
    }

    pub(crate) async fn put(&self, path: &str, token: Option<&str>, body: &Value) -> Answer {
        self.send(self.request(Method::PUT, path, token).json(body))
            .await
    }

    pub(crate) async fn delete(&self, path: &str, token: Option<&str>) -> Answer {
        self.send(self.request(Method::DELETE, path, token)).await
    }

    /// Creates a user and returns `(id, token)`.
    pub(crate) async fn user(&self, name: &str) -> (String, String) {
        let answer = self
            .post(
                "/api/users",
                None,
                &json!({ "email": format!("{name}@example.com"), "full_name": name }),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        (
            answer.body["id"].as_str().expect("id").to_owned(),
            answer.body["token"].as_str().expect("token").to_owned(),
        )
    }

    /// Creates an assessment as `token` and returns its id.
    pub(crate) async fn assessment(&self, token: &str, title: &str) -> String {
        let answer = self
            .post(
                "/api/assessments",
                Some(token),
                &json!({ "title": title, "cloud_provider": "aws" }),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        answer.body["id"].as_str().expect("id").to_owned()
    }

    /// Adds a recommendation and returns its id.
    pub(crate) async fn recommendation(
        &self,
        token: &str,
        assessment_id: &str,
        priority: &str,
    ) -> String {
        let answer = self
            .post(
                "/api/recommendations",
                Some(token),
                &json!({
                    "assessment_id": assessment_id,
                    "title": format!("Fix {priority}"),
                    "category": "cost",
                    "priority": priority,
                }),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        answer.body["id"].as_str().expect("id").to_owned()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Whether `id` looks like an ObjectId (24 lower-case hex digits).
pub(crate) fn is_object_id(id: &Value) -> bool {
    id.as_str().is_some_and(|s| {
        s.len() == 24
            && s.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    })
}

/// A well-formed id that nothing has.
pub(crate) const UNKNOWN_ID: &str = "0123456789abcdef01234567";

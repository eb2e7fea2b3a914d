//! `inframind-metrics`: Prometheus metric families, a tower metrics layer and a `/metrics` endpoint.
//!
//! This crate is part of the [Infra Mind middleware workspace][repo]. It is being built; see its
//! `CHANGELOG.md` for what exists today. Nothing is exported yet.
//!
//! [repo]: https://github.com/infra-mind/inframind-middleware

#![cfg_attr(docsrs, feature(doc_cfg))]

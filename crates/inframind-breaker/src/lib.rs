//! `inframind-breaker`: a lock-free circuit breaker with a tower layer and a named registry.
//!
//! This crate is part of the [Infra Mind middleware workspace][repo]. It is being built; see its
//! `CHANGELOG.md` for what exists today. Nothing is exported yet.
//!
//! [repo]: https://github.com/infra-mind/inframind-middleware

#![cfg_attr(docsrs, feature(doc_cfg))]

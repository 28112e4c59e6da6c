//! distill: build small, shell-less (distroless) OCI base images from
//! Debian packages, reproducibly.
//!
//! The pipeline (see docs/ARCHITECTURE.md): [`spec`] → [`repo`] (mirror,
//! signed InRelease, Packages indices) → [`resolve`] → [`fetch`] →
//! [`deb`] + [`tree`] (extract, filter, generate) → [`check`] → [`layer`]
//! → [`oci`]. [`build`] runs the stages in order; [`report`] is the only
//! module that prints. [`inspect`] reads a built layout back and reports
//! where its bytes are (per layer, file and package). [`registry`] pushes
//! a layout to a registry (OCI distribution-spec) and [`export`] writes a
//! `docker load` archive. [`sbom`] describes a built image as SPDX and
//! CycloneDX documents.

#![warn(missing_docs)]

pub mod atomic;
pub mod build;
pub mod check;
pub mod deb;
pub mod export;
pub mod fetch;
pub mod inspect;
pub mod layer;
pub mod lock;
pub mod maint;
pub mod oci;
pub mod registry;
pub mod repo;
pub mod report;
pub mod resolve;
pub mod sandbox;
pub mod sbom;
pub mod spec;
pub mod tree;
pub mod version;

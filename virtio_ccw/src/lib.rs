//! # zcss-virtio-ccw — virtio over channel I/O
//!
//! The virtio proxy control unit (CU type 0x3832, model = virtio device id)
//! and virtio device back-ends behind a transport-agnostic trait.
#![deny(missing_docs)]

//! A device's saved state in a snapshot ([`crate::snapshot`]): what the
//! [`Device`](super::Device) and [`PassthroughDevice`](super::PassthroughDevice)
//! save and restore hooks exchange with the css.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The saved state of one device: a kind name and version the device's
/// crate defines (checked on restore), and the state itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceState {
    /// What kind of device wrote it (`virtio-ccw`, `dasd-3390`, …).
    pub kind: String,
    /// The version of that kind's state.
    pub version: u32,
    /// The state.
    pub state: serde_json::Value,
}

impl DeviceState {
    /// Wraps `state` of a device of `kind`, version `version`.
    ///
    /// # Errors
    /// [`DeviceStateError::Invalid`] when `state` cannot be serialized.
    pub fn new(kind: &str, version: u32, state: &impl Serialize) -> Result<Self, DeviceStateError> {
        Ok(Self {
            kind: kind.to_owned(),
            version,
            state: serde_json::to_value(state).map_err(|e| DeviceStateError::Invalid(e.to_string()))?,
        })
    }

    /// The state, if it is of `kind` and `version`.
    ///
    /// # Errors
    /// [`DeviceStateError::Kind`], [`DeviceStateError::Version`], or
    /// [`DeviceStateError::Invalid`] when the state does not parse.
    pub fn parse<T: DeserializeOwned>(&self, kind: &str, version: u32) -> Result<T, DeviceStateError> {
        if self.kind != kind {
            return Err(DeviceStateError::Kind {
                expected: kind.to_owned(),
                found: self.kind.clone(),
            });
        }
        if self.version != version {
            return Err(DeviceStateError::Version {
                found: self.version,
                supported: version,
            });
        }
        T::deserialize(&self.state).map_err(|e| DeviceStateError::Invalid(e.to_string()))
    }
}

/// Why a device cannot save or restore its state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceStateError {
    /// The state is of another kind of device.
    #[error("state of a `{found}` device given to a `{expected}` device")]
    Kind {
        /// This device's kind.
        expected: String,
        /// The kind in the snapshot.
        found: String,
    },
    /// The state has a version this build does not read.
    #[error("device state version {found}; this build reads version {supported}")]
    Version {
        /// The version in the snapshot.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// The state does not fit the device (malformed, another geometry or
    /// queue count, …).
    #[error("invalid device state: {0}")]
    Invalid(String),
    /// The device cannot save its state now or at all.
    #[error("cannot save the device: {0}")]
    Unsupported(String),
}

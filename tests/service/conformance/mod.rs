//! Readers of the published API references the sandbox is checked against.

pub mod openapi;
pub mod sdl;
pub mod shape;

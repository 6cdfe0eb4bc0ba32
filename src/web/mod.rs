//! The browser side: the Yew app, its embedding in other pages, and durable storage in
//! IndexedDB. Only built for wasm32; pure logic it draws on (layout, plot series, share links,
//! presets) lives outside, in modules that native tests reach.
//!
//! Everything a user typed and every message body is shown through Yew text nodes, which the
//! DOM escapes; nothing here builds HTML from strings.

// Shared by every part: what an embed or the app page asks for, and how a handle drives it.
pub mod options;

// The app: one reducer, one component a file.
pub mod app;
pub mod inspector;
pub mod state;
pub mod timeline_view;
pub mod topology;

// Editing, presets, sharing and plots.
pub mod editor;
pub mod palette;
pub mod plots;
pub mod share_bar;

// Embedding: `mount(element, options)`, `<queue-playground>`.
pub mod embed;

// Durable storage: IndexedDB, one owner per playground id, the persisted session.
pub mod indexeddb;
pub mod ownership;
pub mod persist;

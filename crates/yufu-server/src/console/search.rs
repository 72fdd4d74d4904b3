//! The search page(s). (Being built: see issue 7.)

use axum::Router;

use super::Page;
use crate::AppState;

/// This module's pages and who may open them.
pub(crate) const PAGES: &[(&str, Page)] = &[];

/// This module's labels: (key, 简体中文, English).
pub(crate) const TEXT: &[(&str, &str, &str)] = &[];

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
}

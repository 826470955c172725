//! The dashboard at `/`: a few pages in plain JavaScript over the REST API, built into the
//! binary (no CDN, no build step). It asks for an API key and keeps it for the browser
//! session; the demo's link carries the key in the URL fragment, which browsers never send.

use axum::extract::Path;
use axum::response::Response;

use super::assets::{Asset, serve};
use super::problem::ApiError;

const ASSETS: [Asset; 3] = [
    Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        bytes: include_bytes!("../../assets/dashboard/index.html"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/dashboard/app.js"),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../assets/dashboard/app.css"),
    },
];

/// `GET /`: the dashboard.
#[utoipa::path(get, path = "/", tag = "docs",
    responses((status = 200, description = "The dashboard page", body = String, content_type = "text/html")))]
pub async fn page() -> Result<Response, ApiError> {
    serve(&ASSETS, "index.html")
}

/// `GET /ui/{file}`: the dashboard's script and styles.
pub async fn file(Path(name): Path<String>) -> Result<Response, ApiError> {
    serve(&ASSETS, &name)
}

//! A loopback HTTP server for feeds.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

/// A loopback HTTP server serving fixed bodies, counting requests per path.
pub struct FeedServer {
    pub addr: SocketAddr,
    hits: Arc<std::sync::Mutex<HashMap<String, usize>>>,
    _task: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
pub struct Route {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    pub headers: Vec<(&'static str, String)>,
}

impl Route {
    pub fn feed(body: impl Into<Vec<u8>>) -> Self {
        Route {
            status: 200,
            content_type: "application/rss+xml; charset=utf-8",
            body: body.into(),
            headers: vec![],
        }
    }

    pub fn status(status: u16) -> Self {
        Route {
            status,
            content_type: "text/plain",
            body: b"nope".to_vec(),
            headers: vec![],
        }
    }
}

impl FeedServer {
    pub async fn start(routes: Vec<(&str, Route)>) -> Self {
        use axum::body::Body;
        use axum::http::{Request, Response};
        let routes: Arc<HashMap<String, Route>> = Arc::new(
            routes
                .into_iter()
                .map(|(p, r)| (p.to_string(), r))
                .collect(),
        );
        let hits: Arc<std::sync::Mutex<HashMap<String, usize>>> = Default::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let counter = hits.clone();
        let app = axum::Router::new().fallback(move |req: Request<Body>| {
            let routes = routes.clone();
            let counter = counter.clone();
            async move {
                let path = req.uri().path().to_string();
                *counter.lock().unwrap().entry(path.clone()).or_default() += 1;
                match routes.get(&path) {
                    Some(r) => {
                        let mut b = Response::builder()
                            .status(r.status)
                            .header("content-type", r.content_type);
                        for (k, v) in &r.headers {
                            b = b.header(*k, v);
                        }
                        b.body(Body::from(r.body.clone())).unwrap()
                    }
                    None => Response::builder()
                        .status(404)
                        .body(Body::from("not found"))
                        .unwrap(),
                }
            }
        });
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FeedServer {
            addr,
            hits,
            _task: task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// How many requests reached `path`.
    pub fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

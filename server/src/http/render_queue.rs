//! Pages render in arrival order, a few at a time. Without a queue every waiting request is a task in the
//! runtime's run queues, and a render is polled a few times before it finishes, each time behind whatever else is
//! queued on that worker: under load some requests wait for several rounds while others are lucky, and the
//! slowest hundredth waited twice the median. A first-come, first-served semaphore lets each admitted render run to
//! its end while the rest wait in order. Server functions share the pages' routes but not the queue: some of them
//! wait on AWS or walk the audit chain, and would hold a slot while the cores are idle.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Renders admitted at once. Shared by every page route of one router.
#[derive(Clone)]
pub struct RenderQueue {
    slots: Option<Arc<Semaphore>>,
    server_fns: Arc<HashSet<&'static str>>,
}

impl RenderQueue {
    /// `None`: no queue, every request renders as soon as it arrives.
    pub fn new(slots: Option<usize>) -> Self {
        RenderQueue {
            slots: slots.map(|n| Arc::new(Semaphore::new(n.max(1)))),
            server_fns: Arc::new(
                leptos::server_fn::axum::server_fn_paths()
                    .map(|(path, _)| path)
                    .collect(),
            ),
        }
    }
}

/// Waits for a slot, renders, and frees the slot once the page is rendered: pages render whole
/// (`SsrMode::Async`), so the response is complete when it is returned, and writing it to a slow client holds
/// no slot.
pub async fn render_in_turn(
    State(queue): State<RenderQueue>,
    request: Request,
    next: Next,
) -> Response {
    let Some(slots) = queue
        .slots
        .filter(|_| !queue.server_fns.contains(request.uri().path()))
    else {
        return next.run(request).await;
    };
    // The semaphore is never closed, so acquiring only fails if it were.
    let _slot = slots
        .acquire()
        .await
        .expect("the render queue is never closed");
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::{render_in_turn, RenderQueue};
    use axum::body::Body;
    use axum::extract::{Path, State};
    use axum::http::Request;
    use axum::middleware::from_fn_with_state;
    use axum::routing::get;
    use axum::Router;
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    use tokio::sync::{mpsc, oneshot};
    use tower::ServiceExt;

    /// Renders that announce themselves on `entered` and finish when their `release` fires.
    #[derive(Clone, Default)]
    struct Renders {
        entered: Arc<Mutex<Vec<String>>>,
        release: Arc<Mutex<HashMap<String, oneshot::Receiver<()>>>>,
    }

    async fn render(State(renders): State<Renders>, Path(name): Path<String>) -> String {
        renders.entered.lock().unwrap().push(name.clone());
        let release = renders.release.lock().unwrap().remove(&name).unwrap();
        release.await.unwrap();
        name
    }

    fn router(renders: Renders, queue: RenderQueue) -> Router {
        Router::new()
            .route("/{*name}", get(render))
            .with_state(renders)
            .layer(from_fn_with_state(queue, render_in_turn))
    }

    /// Starts a request for `/name` and returns what releases it and what it answers.
    fn start(
        app: &Router,
        renders: &Renders,
        name: &str,
    ) -> (oneshot::Sender<()>, mpsc::Receiver<String>) {
        let (release, released) = oneshot::channel();
        renders
            .release
            .lock()
            .unwrap()
            .insert(name.into(), released);
        let (answer, answered) = mpsc::channel(1);
        let request = Request::get(format!("/{name}"))
            .body(Body::empty())
            .unwrap();
        let app = app.clone();
        tokio::spawn(async move {
            let response = app.oneshot(request).await.unwrap();
            let body = axum::body::to_bytes(response.into_body(), 1024)
                .await
                .unwrap();
            answer
                .send(String::from_utf8(body.to_vec()).unwrap())
                .await
                .unwrap();
        });
        (release, answered)
    }

    /// Lets every spawned task run until it waits (the test runtime has one thread).
    async fn settle() {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn one_slot_renders_in_arrival_order() {
        let renders = Renders::default();
        let app = router(renders.clone(), RenderQueue::new(Some(1)));
        let (release_a, mut a) = start(&app, &renders, "a");
        settle().await;
        let (release_b, mut b) = start(&app, &renders, "b");
        let (release_c, mut c) = start(&app, &renders, "c");
        settle().await;
        assert_eq!(*renders.entered.lock().unwrap(), ["a"], "b and c wait");

        release_a.send(()).unwrap();
        assert_eq!(a.recv().await.unwrap(), "a");
        settle().await;
        assert_eq!(
            *renders.entered.lock().unwrap(),
            ["a", "b"],
            "b next, c still waits"
        );

        release_c.send(()).unwrap();
        release_b.send(()).unwrap();
        assert_eq!(b.recv().await.unwrap(), "b");
        assert_eq!(c.recv().await.unwrap(), "c");
        assert_eq!(*renders.entered.lock().unwrap(), ["a", "b", "c"]);
    }

    #[tokio::test]
    async fn server_functions_pass_the_queue() {
        let server_fn = leptos::server_fn::axum::server_fn_paths()
            .map(|(path, _)| path.trim_start_matches('/'))
            .find(|path| path.ends_with("whoami"))
            .expect("the app's server functions are registered");
        let renders = Renders::default();
        let app = router(renders.clone(), RenderQueue::new(Some(1)));
        let (release_page, mut page) = start(&app, &renders, "page");
        settle().await;
        let (release_call, mut call) = start(&app, &renders, server_fn);
        settle().await;
        assert_eq!(*renders.entered.lock().unwrap(), ["page", server_fn]);
        release_call.send(()).unwrap();
        assert_eq!(call.recv().await.unwrap(), server_fn);
        release_page.send(()).unwrap();
        assert_eq!(page.recv().await.unwrap(), "page");
    }

    #[tokio::test]
    async fn without_a_queue_every_render_starts_at_once() {
        let renders = Renders::default();
        let app = router(renders.clone(), RenderQueue::new(None));
        let (release_a, mut a) = start(&app, &renders, "a");
        let (release_b, mut b) = start(&app, &renders, "b");
        settle().await;
        assert_eq!(renders.entered.lock().unwrap().len(), 2);
        release_b.send(()).unwrap();
        release_a.send(()).unwrap();
        assert_eq!(b.recv().await.unwrap(), "b");
        assert_eq!(a.recv().await.unwrap(), "a");
    }
}

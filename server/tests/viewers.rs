//! Live viewers: `/live` pushes an event per new collector reading to every open page, and the console's AWS
//! requests over the same number of collector cycles are the same with one viewer and with fifty viewers — each
//! holding a live stream open and loading pages and server functions as fast as it can. Counted by the emulator
//! (the harness's request counter), not by the console.

mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::browser::Browser;
use support::console::TestConsole;

/// AWS requests during `cycles` collector cycles while `viewers` clients hammer the console; also returns how
/// many console requests the viewers made.
async fn aws_requests_during(
    console: &TestConsole,
    viewer: &Arc<Browser>,
    viewers: usize,
    cycles: usize,
) -> (u64, u64) {
    console.moto.aws_requests(true).await;
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicU64::new(0));
    let cookie = viewer.cookie("127.0.0.1", "signalbox_session").unwrap();
    let mut streams = Vec::new();
    for _ in 0..viewers {
        streams.push(open_live(&console.base, &cookie).await);
    }
    let tasks: Vec<_> = (0..viewers)
        .map(|i| {
            let (viewer, stop, served) = (viewer.clone(), stop.clone(), served.clone());
            let base = console.base.clone();
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let page = if i % 2 == 0 {
                        viewer.post_form(&format!("{base}/api/overview"), &[]).await
                    } else {
                        viewer
                            .get(&format!("{base}/env/production/service/api"))
                            .await
                    };
                    assert_eq!(page.status, 200, "{}", page.body);
                    served.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    // The test drives the collectors' rounds (their own timers are an hour), so both runs make exactly the same
    // rounds and only the viewers differ; each round also pushes an event to every live stream.
    for _ in 0..cycles {
        tokio::time::sleep(Duration::from_millis(300)).await;
        console.running.collectors[0].collect_once().await;
        console.running.health[0].collect_once().await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let aws = console.moto.aws_requests(false).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    // Every live stream got the collectors' updates meanwhile.
    for mut stream in streams {
        let first = next_event(&mut stream).await;
        assert!(first.contains("event: update"), "{first}");
    }
    (aws, served.load(Ordering::Relaxed))
}

/// Opens `/live` with a session cookie.
async fn open_live(base: &str, cookie: &str) -> reqwest::Response {
    let response = reqwest::Client::new()
        .get(format!("{base}/live"))
        .header("cookie", format!("signalbox_session={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response
}

/// The next server-sent event's text.
async fn next_event(stream: &mut reqwest::Response) -> String {
    let mut text = String::new();
    while !text.contains("\n\n") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.chunk())
            .await
            .expect("an event within 10 s")
            .unwrap()
            .expect("the stream stays open");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn the_live_stream_pushes_each_new_reading_and_needs_a_session() {
    let console = TestConsole::start(false, |config| {
        config.environments.truncate(1);
        config.aws.poll_interval = Duration::from_secs(1);
    })
    .await;
    let anonymous = reqwest::get(console.url("/live")).await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let viewer = console.browser_as("vera").await;
    let cookie = viewer.cookie("127.0.0.1", "signalbox_session").unwrap();
    let mut stream = open_live(&console.base, &cookie).await;
    assert_eq!(
        stream.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let event = next_event(&mut stream).await;
    assert!(
        event.contains("event: update") && event.contains(r#""environment":"production""#),
        "{event}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_requests_do_not_grow_with_the_number_of_viewers() {
    let console = TestConsole::start(true, |config| {
        config.environments.truncate(1);
        config.aws.poll_interval = Duration::from_secs(3600);
        config.slo.refresh = Duration::from_secs(3600);
        config.security.rate_limit_enabled = false;
    })
    .await;
    let viewer = Arc::new(console.browser_as("vera").await);
    let cycles = 6;
    let (one, one_served) = aws_requests_during(&console, &viewer, 1, cycles).await;
    let (fifty, fifty_served) = aws_requests_during(&console, &viewer, 50, cycles).await;
    println!(
        "AWS requests over {cycles} collector cycles: 1 viewer {one} ({one_served} console requests), \
         50 viewers {fifty} ({fifty_served} console requests)"
    );
    // On 2 cores both runs saturate the machine, so total throughput is similar; what differs is concurrency.
    assert!(
        one_served > 0 && fifty_served >= 50,
        "every viewer was served: {one_served}, {fifty_served}"
    );
    let difference = (fifty as f64 - one as f64).abs() / one as f64;
    assert!(
        one > 0 && difference <= 0.10,
        "1 viewer: {one}, 50 viewers: {fifty} ({:.1} %)",
        difference * 100.0
    );
}

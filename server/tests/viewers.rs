//! Cost flat in viewers: the console's AWS requests over the same number of collector cycles are the same with
//! one viewer and with fifty viewers loading pages and calling server functions as fast as they can. Counted by
//! the emulator (the harness's request counter), not by the console.

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
    let mut readings = console.running.collectors[0].subscribe();
    readings.changed().await.unwrap();
    console.moto.aws_requests(true).await;
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicU64::new(0));
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
    for _ in 0..cycles {
        readings.changed().await.unwrap();
    }
    let aws = console.moto.aws_requests(false).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    (aws, served.load(Ordering::Relaxed))
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_requests_do_not_grow_with_the_number_of_viewers() {
    let console = TestConsole::start(true, |config| {
        config.environments.truncate(1);
        config.aws.poll_interval = Duration::from_secs(1);
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
    assert!(
        fifty_served > one_served * 3,
        "the fifty viewers really were busier: {fifty_served} vs {one_served}"
    );
    let difference = (fifty as f64 - one as f64).abs() / one as f64;
    assert!(
        one > 0 && difference <= 0.10,
        "1 viewer: {one}, 50 viewers: {fifty} ({:.1} %)",
        difference * 100.0
    );
}

//! One colour's ECS tasks and ALB targets: target health per availability zone, tasks by state, and why the
//! recently stopped ones stopped.

use crate::components::freshness::Freshness;
use crate::dto::{targets_by_zone, ColourFleet, TaskView};
use leptos::prelude::*;

/// The clock part of an RFC 3339 time: what a person scanning a table reads.
fn clock(rfc3339: &Option<String>) -> String {
    rfc3339
        .as_deref()
        .and_then(|t| t.get(11..19))
        .map(|t| format!("{t} UTC"))
        .unwrap_or_else(|| "—".into())
}

/// "4 RUNNING · 1 PENDING · 3 STOPPED"
fn task_counts(tasks: &[TaskView]) -> String {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for task in tasks {
        match counts.iter_mut().find(|(s, _)| *s == task.last_status) {
            Some((_, n)) => *n += 1,
            None => counts.push((task.last_status.clone(), 1)),
        }
    }
    if counts.is_empty() {
        return "no tasks".into();
    }
    counts
        .iter()
        .map(|(status, n)| format!("{n} {status}"))
        .collect::<Vec<_>>()
        .join(" · ")
}

#[component]
pub fn FleetDetail(fleet: ColourFleet) -> impl IntoView {
    let zones = targets_by_zone(&fleet.targets);
    let failing: Vec<_> = fleet
        .targets
        .iter()
        .filter(|t| t.state != "healthy")
        .cloned()
        .collect();
    let (current, stopped): (Vec<TaskView>, Vec<TaskView>) = fleet
        .tasks
        .iter()
        .cloned()
        .partition(|t| t.desired_status != "STOPPED");
    let counts = task_counts(&fleet.tasks);
    let stopped_count = stopped.len();
    view! {
        <div class="fleet" data-testid="targets">
            <h3 class="small-head">"Targets by availability zone " <Freshness state=fleet.targets_state/></h3>
            <table class="kpis zones">
                <thead><tr><th>"Zone"</th><th>"Healthy"</th><th>"Unhealthy"</th><th>"Other"</th></tr></thead>
                <tbody>
                    {zones.into_iter().map(|zone| view! {
                        <tr data-zone=zone.zone.clone()>
                            <th>{zone.zone.clone()}</th>
                            <td class="num">{zone.healthy}</td>
                            <td class="num" class:bad={zone.unhealthy > 0}>{zone.unhealthy}</td>
                            <td class="num">{zone.other}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
            {(!failing.is_empty()).then(|| view! {
                <ul class="small target-problems">
                    {failing.into_iter().map(|t| view! {
                        <li><code>{t.id}</code> " " {t.state} ": " {t.description.or(t.reason).unwrap_or_default()}</li>
                    }).collect_view()}
                </ul>
            })}
        </div>
        <div class="fleet" data-testid="tasks">
            <h3 class="small-head">"Tasks " <Freshness state=fleet.tasks_state/></h3>
            <p class="small" data-testid="task-states">{counts}</p>
            {(!current.is_empty()).then(|| view! { <TaskTable tasks=current/> })}
            {(stopped_count > 0).then(|| view! {
                <details class="stopped-tasks">
                    <summary class="small">{format!("{stopped_count} recently stopped")}</summary>
                    <TaskTable tasks=stopped/>
                </details>
            })}
        </div>
    }
}

#[component]
fn TaskTable(tasks: Vec<TaskView>) -> impl IntoView {
    view! {
        <table class="kpis tasks">
            <thead><tr><th>"Task"</th><th>"Status"</th><th>"Health"</th><th>"Zone"</th><th>"Revision"</th><th>"Since"</th></tr></thead>
            <tbody>
                {tasks.into_iter().map(|task| {
                    let since = match task.stopped_at.is_some() {
                        true => clock(&task.stopped_at),
                        false => clock(&task.started_at),
                    };
                    view! {
                        <tr data-task-status=task.last_status.clone()>
                            <td><code title=task.id.clone()>{task.id.chars().take(8).collect::<String>()}</code></td>
                            <td>{task.last_status.clone()}</td>
                            <td>{task.health_status.clone().unwrap_or_else(|| "—".into())}</td>
                            <td>{task.availability_zone.clone().unwrap_or_else(|| "—".into())}</td>
                            <td><code>{task.task_definition.clone()}</code></td>
                            <td class="small">{since}</td>
                        </tr>
                        {task.stopped_reason.clone().map(|reason| view! {
                            <tr class="stopped-reason"><td></td><td colspan="5" class="small muted">{reason}</td></tr>
                        })}
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

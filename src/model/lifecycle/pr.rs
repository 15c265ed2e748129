//! Pull-request feedback (the `pr` approval step): a failing check or requested changes send
//! the result back to a performer as rework, or block the task for a person. The rules of how
//! many times, and when another performer takes over, live here.

use jiff::Timestamp;

use super::{Refusal, rework, verdict};
use crate::model::{Task, TaskStatus};

/// What to do after the pull request sent a result back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrNext {
    /// Rework; routing avoids the performers in `avoid` (their tries are spent) while another
    /// is eligible.
    Rework { avoid: Vec<String> },
    /// Nobody is left to try: a person decides.
    Block { why: String },
}

/// Given how many results of each performer the pull request sent back (this one included,
/// as `(performer, count)`), whose result it was, and the Score's `max_attempts`: the next step.
///
/// Each performer gets `max_attempts` tries at the pull request. A performer whose tries are
/// spent is avoided, so the task goes (with the packet) to another one; once a second
/// performer's tries are spent too, or the spent one had to go on because nobody else could
/// take the task, a person decides.
pub fn after_sendback(counts: &[(String, u32)], author: &str, max_attempts: u32) -> PrNext {
    let max = max_attempts.max(1);
    let spent = spent(counts, max_attempts);
    let mine = counts.iter().find(|(p, _)| p == author).map_or(0, |(_, n)| *n);
    if spent.len() >= 2 || mine > max {
        let tries: Vec<String> = counts.iter().map(|(p, n)| format!("{p} {n}")).collect();
        return PrNext::Block {
            why: format!("the pull request sent the result back {} (tries per performer)", tries.join(", ")),
        };
    }
    PrNext::Rework { avoid: spent }
}

/// Performers whose tries at the pull request are spent (`counts` as in [`after_sendback`]):
/// routing avoids them while another performer is eligible.
pub fn spent(counts: &[(String, u32)], max_attempts: u32) -> Vec<String> {
    counts.iter().filter(|(_, n)| *n >= max_attempts.max(1)).map(|(p, _)| p.clone()).collect()
}

/// The pull request sent the submitted result back: rejected, then ready for rework with the
/// packet as its reason (the claim is dropped so routing may pick another performer).
pub fn sent_back(task: &mut Task, packet: &str, now: Timestamp) -> Result<(), Refusal> {
    verdict(task, Some(false), None, now)?;
    rework(task, packet, now)
}

/// The pull request cannot go on without a person (closed, someone else pushed to it, nobody
/// left to rework it): the submitted result is rejected and the task blocked, with `why` kept
/// on the task. The result stays on its branch.
pub fn blocked_by_pr(task: &mut Task, why: &str, now: Timestamp) -> Result<(), Refusal> {
    if task.status == TaskStatus::Submitted {
        verdict(task, Some(false), None, now)?;
    }
    task.transition(TaskStatus::Blocked, now)?;
    task.rework = Some(why.to_owned());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(c: &[(&str, u32)]) -> Vec<(String, u32)> {
        c.iter().map(|(p, n)| ((*p).to_owned(), *n)).collect()
    }

    #[test]
    fn a_performer_keeps_the_task_until_its_tries_are_spent_then_another_takes_it_then_a_person() {
        assert_eq!(after_sendback(&counts(&[("a", 1)]), "a", 2), PrNext::Rework { avoid: vec![] });
        assert_eq!(after_sendback(&counts(&[("a", 2)]), "a", 2), PrNext::Rework { avoid: vec!["a".into()] });
        assert_eq!(after_sendback(&counts(&[("a", 2), ("b", 1)]), "b", 2), PrNext::Rework { avoid: vec!["a".into()] });
        assert!(matches!(after_sendback(&counts(&[("a", 2), ("b", 2)]), "b", 2), PrNext::Block { .. }));
        // Nobody else could take it, so the spent performer went on: a person decides now.
        let PrNext::Block { why } = after_sendback(&counts(&[("a", 3)]), "a", 2) else { panic!("blocks") };
        assert!(why.contains("a 3"), "{why}");
    }
}

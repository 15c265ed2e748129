//! The conflict forecast under the board's task rows: what `git maestro conflicts` finds
//! between the active branches of a Score and its integration branch.
//!
//! A forecast merges each pair of branches in memory, and the state moves several times a
//! second while agents run (live usage, heartbeats); the branches do not. So the forecast of a
//! Score is kept while its branch tips stay the same, and reading the tips is all a state
//! change costs.

use std::collections::BTreeMap;

use crate::approval::{self, ForecastConflict};
use crate::cli::watch::model::Board;
use crate::git::ObjectId;
use crate::store::{self, Store};

type Sides = Vec<(String, ObjectId)>;

/// Each Score's last forecast, with the branch tips it was made of.
#[derive(Default)]
pub struct Forecasts {
    by_score: BTreeMap<String, (Sides, Vec<ForecastConflict>)>,
}

impl Forecasts {
    /// Put the forecast of each Score on the rows of `board`, computing it again only for a
    /// Score whose branches moved. A forecast that cannot be made leaves the rows without one.
    pub fn apply(&mut self, store: &Store, board: &mut Board) {
        let Ok(view) = store.view() else { return };
        for score_view in &mut board.scores {
            let Ok(score) = store::score(&view, &score_view.score) else { continue };
            let active = score_view.tasks.iter().filter(|t| approval::is_active(t.status)).map(|t| t.id.as_str());
            let Ok(sides) = approval::forecast_sides(&store.repo, &score, active) else { continue };
            let cached = self.by_score.get(&score.id).filter(|(was, _)| *was == sides);
            let conflicts = match cached {
                Some((_, conflicts)) => conflicts.clone(),
                None => match approval::forecast_between(&store.repo, &sides) {
                    Ok(conflicts) => {
                        self.by_score.insert(score.id.clone(), (sides, conflicts.clone()));
                        conflicts
                    }
                    Err(_) => continue,
                },
            };
            for t in &mut score_view.tasks {
                t.conflicts = with(&t.id, &conflicts);
            }
        }
    }
}

/// The other sides `task` conflicts with, and the paths.
fn with(task: &str, conflicts: &[ForecastConflict]) -> Vec<(String, Vec<String>)> {
    conflicts
        .iter()
        .filter_map(|c| match (c.a == task, c.b == task) {
            (true, _) => Some((c.b.clone(), c.paths.clone())),
            (_, true) => Some((c.a.clone(), c.paths.clone())),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_task_gets_the_other_side_of_its_conflicts() {
        let c = |a: &str, b: &str, p: &str| ForecastConflict {
            a: a.into(),
            b: b.into(),
            paths: vec![p.into()],
            overlaps: Vec::new(),
        };
        let all = [c("integration", "a", "x.rs"), c("a", "b", "y.rs")];
        assert_eq!(
            with("a", &all),
            [("integration".to_owned(), vec!["x.rs".to_owned()]), ("b".to_owned(), vec!["y.rs".to_owned()])]
        );
        assert_eq!(with("b", &all), [("a".to_owned(), vec!["y.rs".to_owned()])]);
        assert!(with("c", &all).is_empty());
    }
}

//! What a check of the invariants found: the violations, with a hint and the safe fix when
//! there is one, the open intents, and how many facts each invariant looked at.

use std::collections::BTreeMap;

use crate::git::ObjectId;
use crate::model::intent::Intent;

/// One of the invariants of DESIGN.md §12.4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Invariant {
    I1,
    I2,
    I3,
    I4,
    I5,
    I6,
    I7,
}

impl Invariant {
    /// Every invariant, in order.
    pub const ALL: [Invariant; 7] =
        [Invariant::I1, Invariant::I2, Invariant::I3, Invariant::I4, Invariant::I5, Invariant::I6, Invariant::I7];

    /// `I1` … `I7`.
    pub fn name(self) -> &'static str {
        match self {
            Invariant::I1 => "I1",
            Invariant::I2 => "I2",
            Invariant::I3 => "I3",
            Invariant::I4 => "I4",
            Invariant::I5 => "I5",
            Invariant::I6 => "I6",
            Invariant::I7 => "I7",
        }
    }

    /// The rule, in one line.
    pub fn rule(self) -> &'static str {
        match self {
            Invariant::I1 => "every merged task's merge is on its integration branch and names it",
            Invariant::I2 => "every reverted task's merge is reverted on its integration branch",
            Invariant::I3 => "no task runs without a live or foreign lease, and no lease outlives its run",
            Invariant::I4 => "every commit the state names exists and is reachable from a ref",
            Invariant::I5 => "every landed Score's target holds the integration tip it landed",
            Invariant::I6 => "no integration branch holds a task merge the state does not know",
            Invariant::I7 => "every Score's status says what its tasks say: done once every task is merged",
        }
    }
}

impl std::fmt::Display for Invariant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A repair that is safe to make without asking anyone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fix {
    /// Release the running task whose run is gone (I3).
    Release { score: String, task: String },
    /// Drop the dead lease left on a task that is not running (I3).
    DropLease { score: String, task: String },
    /// Keep the existing but unreachable commit as `refs/maestro/keep/<sha>` (I4).
    Keep { commit: ObjectId },
    /// Set the Score's status to what its tasks say (I7).
    Settle { score: String },
}

/// A broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub invariant: Invariant,
    /// What it is about: a task as `score/task`, a Score id, or a decision.
    pub subject: String,
    /// One line: what is wrong.
    pub explanation: String,
    /// The command to run next.
    pub hint: String,
    /// The repair [`repair`] makes, where one is safe.
    pub fix: Option<Fix>,
}

/// Where an open intent stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntentState {
    /// Its process (of this clone) still runs: it is being applied.
    InProgress,
    /// Its process (of this clone) stopped; `due` when some effect has not happened yet. The next
    /// write of this clone settles it.
    Stopped { due: bool },
    /// Another clone made it; that clone settles it.
    Elsewhere,
}

/// An intent in the state, not yet settled.
#[derive(Debug, Clone)]
pub struct OpenIntent {
    pub intent: Intent,
    pub state: IntentState,
    /// Whether its effects can no longer happen (a ref it moves is elsewhere): settling undoes
    /// its step.
    pub fails: bool,
}

/// What [`check`] found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub violations: Vec<Violation>,
    pub intents: Vec<OpenIntent>,
    /// How many records (or commits) each invariant was checked on.
    pub checked: BTreeMap<Invariant, usize>,
    /// How many Scores the state holds.
    pub scores: usize,
}

impl Report {
    /// Whether every invariant holds.
    pub fn holds(&self) -> bool {
        self.violations.is_empty()
    }

    /// The violations of `invariant`.
    pub fn of(&self, invariant: Invariant) -> impl Iterator<Item = &Violation> {
        self.violations.iter().filter(move |v| v.invariant == invariant)
    }

    pub(super) fn violation(
        &mut self,
        invariant: Invariant,
        subject: impl Into<String>,
        explanation: String,
        hint: String,
    ) {
        self.violations.push(Violation { invariant, subject: subject.into(), explanation, hint, fix: None });
    }

    pub(super) fn fixable(
        &mut self,
        invariant: Invariant,
        subject: impl Into<String>,
        explanation: String,
        hint: String,
        fix: Fix,
    ) {
        self.violations.push(Violation { invariant, subject: subject.into(), explanation, hint, fix: Some(fix) });
    }

    pub(super) fn count(&mut self, invariant: Invariant) {
        *self.checked.entry(invariant).or_default() += 1;
    }
}

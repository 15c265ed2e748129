//! Handover packets: `handovers/<aa>/<bb>/<id>.toml`.
//!
//! A packet carries what the next performer of a task needs. It goes `open -> delivered ->
//! acked | nacked | expired`. Push packets name their performer; pull packets wait in a queue
//! for the first taker; a broadcast goes to every run of its Score.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Delivery {
    Push,
    Pull,
    Broadcast,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HandoverStatus {
    Open,
    Delivered,
    Acked,
    Nacked,
    Expired,
}

/// The sections of a packet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sections {
    pub task: String,
    #[serde(default)]
    pub context: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relevant_files: Vec<String>,
    #[serde(default)]
    pub current_state: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tried: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub decisions: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub knowledge: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acceptance: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Handover {
    pub format: u32,
    pub id: String,
    pub score: String,
    /// The task it is about; none for a Score-wide broadcast.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    pub delivery: Delivery,
    /// The performer a push packet is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Why it was written: a rework, a re-route, a person's message.
    pub reason: String,
    pub from: String,
    pub sections: Sections,
    pub status: HandoverStatus,
    pub created: Timestamp,
    /// Who got it, in which run, when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_run: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<Timestamp>,
    /// Performers that acknowledged it (one for push and pull, several for a broadcast).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acked_by: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nack_reason: Option<String>,
    pub updated: Timestamp,
    /// Set by the store on every write; see [`crate::model::clock`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<crate::model::clock::SyncMeta>,
}

impl Handover {
    /// The packet as prompt text, section by section.
    pub fn render(&self) -> String {
        let s = &self.sections;
        let list = |items: &[String]| items.iter().map(|i| format!("- {i}")).collect::<Vec<_>>().join("\n");
        let mut out = format!("Handover {} ({}), from {}:\n", self.id, self.reason, self.from);
        for (name, body) in [
            ("Task", s.task.clone()),
            ("Context", s.context.clone()),
            ("Relevant files", list(&s.relevant_files)),
            ("Current state", s.current_state.clone()),
            ("What was tried", list(&s.tried)),
            ("Decisions", list(&s.decisions)),
            ("Knowledge", list(&s.knowledge)),
            ("Acceptance criteria", list(&s.acceptance)),
            ("Constraints", list(&s.constraints)),
        ] {
            if !body.trim().is_empty() {
                out.push_str(&format!("## {name}\n{}\n", body.trim_end()));
            }
        }
        out
    }
}

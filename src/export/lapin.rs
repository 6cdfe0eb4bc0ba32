//! A scenario as a Rust program using `lapin`.

use crate::scenario::Scenario;

pub fn program(scenario: &Scenario) -> String {
    super::comment("//", &scenario.name)
}

//! Small units for tests that need a node but not a particular flow.

use crate::node::NodeOptions;

/// One unit on 4102: a one-second welcome prompt, then the node hangs up.
pub fn welcome_only() -> NodeOptions {
    NodeOptions {
        units: vec![(
            "welcome.yaml".into(),
            "unit: welcome\nname: Welcome\nservice_numbers: [\"4102\"]\ntimezone: Europe/Madrid\n\
             prompts:\n  welcome: welcome.wav\n\
             flow:\n  start: greet\n  steps:\n    greet:\n      play: { prompts: [welcome], next: bye }\n    bye:\n      hangup: {}\n"
                .into(),
        )],
        prompts: vec![("welcome".into(), "welcome".into(), 1000)],
        env: vec![],
    }
}

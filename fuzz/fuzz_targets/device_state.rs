#![no_main]
//! The device-state parser, then the policy over whatever state parses.
//! Each input is tried twice: as a whole file, and as a body with the
//! correct checksum appended (so the fuzzer reaches the structural checks
//! behind the checksum, which it cannot forge). Parsing never panics, parsed
//! states re-encode to the input, and evaluating and recording every fixture
//! manifest against them never panics and keeps the state encodable.

use libfuzzer_sys::fuzz_target;
use otaseal::format::device_state::CHECKSUM_CONTEXT;
use otaseal::device::DeviceState;
use otaseal::policy::{PolicyOptions, evaluate};
use otaseal_fuzz::{fixture, with_checksum};

fuzz_target!(|data: &[u8]| {
    let sealed = with_checksum(data, CHECKSUM_CONTEXT);
    for input in [data, &sealed[..]] {
        let Ok(mut state) = DeviceState::parse(input) else {
            continue;
        };
        assert_eq!(state.to_bytes(), input);
        let f = fixture();
        for (i, b) in f.bundles.iter().enumerate() {
            let m = b.verified.manifest();
            let opts = PolicyOptions {
                // Every third check expects another app: the refusal path too.
                app: if i % 3 == 2 {
                    "com.example.other".parse().unwrap()
                } else {
                    m.app_id.clone()
                },
                now: 1_750_000_000,
                switch_channel: (i % 2 == 0).then(|| m.channel.clone()),
                require_expiry: false,
                anchors: Vec::new(),
            };
            if let Ok(approval) = evaluate(&state, &b.verified, None, &opts) {
                state.record(&approval, opts.now);
                let again = DeviceState::parse(&state.to_bytes()).unwrap();
                assert_eq!(again, state);
            }
        }
    }
});

//! Fixed scenarios: each is a failing run the property test's hunt found on the core as it was on
//! 2026-12-04 (before the RFC 8966 fixes of issue 13, unless its comment says otherwise), shrunk to the faults that still made it
//! fail, and kept so that the failure cannot come back. Each replays its faults at fixed virtual
//! times on a fixed network (the case's seed, size, shared prefixes and loss), heals everything,
//! and asserts what a user would notice: no forwarding loop (counted after every event, and
//! standing loops once a second), no unfeasible selected route, no route kept to an unreachable
//! origin past expiry and hold time, and full connectivity again after the heal.
//!
//! Prefix numbers: `0..nodes` are the nodes' own /128s, then `::/0` (if the case has gateways),
//! then the anycast /128 (if it has anycast origins). Each replays from the command line too, with
//! the same network and one `--event` per fault (the CLI does not heal at the end), e.g. the first:
//! `meshsim --nodes 6 --topology geometric --seed 967299013398939962 --gateways 2 --anycast 1
//! --event 30.1:withdraw:4:4`.

use std::time::Duration;

use meshsim::chaos::{replay, Case};
use meshsim::Action;

fn config(
    seed: u64,
    nodes: usize,
    gateways: usize,
    anycast: usize,
    loss_percent: u8,
) -> meshsim::SimConfig {
    Case {
        seed,
        nodes,
        gateways,
        anycast,
        draws: Vec::new(),
        linger_ms: 0,
        loss_percent,
    }
    .config()
}

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

fn assert_survives(config: meshsim::SimConfig, actions: &[(Duration, Action)], heal_at_ms: u64) {
    let outcome = replay(config, actions, ms(heal_at_ms));
    let i = &outcome.invariants;
    assert!(
        !outcome.failed(),
        "loops {} (through a shorter prefix {}, standing {}), infeasible {}, stale routes {}, \
         reconverged {}:\n{}",
        i.loops,
        i.loops_through_shorter,
        i.standing_loops,
        i.infeasible,
        i.stale_routes,
        outcome.reconverged,
        i.log.join("\n")
    );
}

/// RFC 8966 §3.5.4. A node stops originating its own /128 while a neighbour still routes that
/// /128 through it; with no entry of its own left, the node forwards the /128's packets by its
/// `::/0` route, back to that neighbour. The lost prefix must be held unreachable (dropped), not
/// left to fall through to a shorter prefix.
///
/// Failed with the core branch merged (ddeca96); `remove_local_prefix` now holds the prefix.
#[test]
fn withdrawn_own_prefix_does_not_fall_through_to_default() {
    assert_survives(
        config(967299013398939962, 6, 2, 1, 0),
        &[(ms(30100), Action::Withdraw { node: 4, prefix: 4 })],
        30100,
    );
}

/// RFC 8966 §3.5.4, the common case: a node crashes; six seconds on, a neighbour of it declares
/// it dead and deletes its /128 route, and from then forwards the /128 by `::/0` to a node that
/// still routes the /128 through it.
#[test]
fn crashed_node_prefix_does_not_fall_through_to_default() {
    assert_survives(
        config(1, 5, 3, 2, 1),
        &[
            (ms(33048), Action::Crash(3)),
            (ms(44320), Action::HealLink(2)),
        ],
        44320,
    );
}

/// As above, with a single gateway and the loss rippling outwards: eight loops over three pairs
/// of nodes within 70 ms.
#[test]
fn crash_far_from_the_gateway_does_not_loop_through_default() {
    assert_survives(
        config(2, 10, 1, 3, 1),
        &[
            (ms(33156), Action::Crash(8)),
            (
                ms(41117),
                Action::SetCost {
                    link: 11,
                    rxcost: 512,
                },
            ),
        ],
        41117,
    );
}

/// Two origins of `::/0` come and go: node 8 becomes a gateway, the original gateway withdraws,
/// then node 8 withdraws too. Node 8 loops `::/0` with node 9, and node 7 selects an unfeasible
/// `::/0` route (same seqno, advertised metric 549 against a feasibility distance of 530): the
/// §3.5.3 / §3.6 rule that an unfeasible update for the selected route unselects it.
///
/// Failed with the core branch merged (ddeca96): the withdrawing origin selected the route node 9
/// had given it before node 8 became an origin (`remove_local_prefix` now forgets those and asks
/// its neighbours anew, RFC 8966 §3.8.1.1).
#[test]
fn gateways_coming_and_going_do_not_loop_default() {
    assert_survives(
        config(223, 12, 1, 0, 1),
        &[
            (
                ms(34520),
                Action::Announce {
                    node: 8,
                    prefix: 12,
                },
            ),
            (
                ms(42053),
                Action::Withdraw {
                    node: 0,
                    prefix: 12,
                },
            ),
            (
                ms(50484),
                Action::Withdraw {
                    node: 8,
                    prefix: 12,
                },
            ),
        ],
        50484,
    );
}

/// A new gateway announces `::/0` and withdraws it again while another node reboots with its
/// seqno: selected `::/0` routes fail the feasibility condition (17 times, 5% loss).
#[test]
fn gateway_withdrawal_leaves_no_unfeasible_selection() {
    assert_survives(
        config(207, 8, 1, 0, 5),
        &[
            (ms(41169), Action::Announce { node: 0, prefix: 8 }),
            (
                ms(52511),
                Action::Reboot {
                    node: 3,
                    keep_seqno: true,
                },
            ),
            (ms(52788), Action::Withdraw { node: 0, prefix: 8 }),
        ],
        52788,
    );
}

/// No gateways and no loss: two stateless reboots, a one-way link and a cut leave node 4
/// unreachable, and nodes 0, 1 and 3 settle into a forwarding loop for its /128 that is still
/// standing 40 s after the restart allowance ended and still there 97 s after node 4 became
/// unreachable: the routes keep being refreshed instead of expiring (§3.5.3 / §3.8.2.2: an
/// ignored unfeasible update must not refresh a route; an unfeasible update for the selected
/// route unselects it).
#[test]
fn unreachable_prefix_loop_does_not_stand_after_reboots() {
    assert_survives(
        config(416, 5, 0, 0, 0),
        &[
            (
                ms(36303),
                Action::Reboot {
                    node: 0,
                    keep_seqno: false,
                },
            ),
            (ms(38439), Action::OneWay { link: 4, from: 1 }),
            (ms(49525), Action::CutLink(1)),
            (
                ms(57335),
                Action::Reboot {
                    node: 1,
                    keep_seqno: false,
                },
            ),
            (ms(63165), Action::HealLink(1)),
        ],
        204900,
    );
}

/// One-way links, a cost change, a stateless reboot and a crash: a loop of three nodes for four
/// prefixes stands after the restart allowance, and the network never reconverges after
/// everything is healed.
#[test]
fn one_way_links_and_reboot_reconverge_without_standing_loop() {
    assert_survives(
        config(4729, 11, 0, 3, 0),
        &[
            (ms(30159), Action::OneWay { link: 4, from: 1 }),
            (
                ms(39261),
                Action::Burst {
                    link: 6,
                    millis: 394,
                },
            ),
            (ms(41381), Action::OneWay { link: 14, from: 1 }),
            (
                ms(50722),
                Action::SetCost {
                    link: 14,
                    rxcost: 1024,
                },
            ),
            (
                ms(54407),
                Action::Reboot {
                    node: 0,
                    keep_seqno: false,
                },
            ),
            (ms(57521), Action::Crash(10)),
        ],
        57521,
    );
}

/// The smallest of the loops in a multi-origin prefix's own routes: no gateways, one anycast
/// origin; node 8 becomes a second origin and withdraws 3.4 s later, and at once forwards the
/// anycast prefix to node 6, which routes it back to node 8.
///
/// Failed with the core branch merged (ddeca96), for the same cause as
/// `gateways_coming_and_going_do_not_loop_default`.
#[test]
fn second_anycast_origin_withdrawing_does_not_loop() {
    assert_survives(
        config(152, 9, 0, 1, 1),
        &[
            (ms(41361), Action::Announce { node: 8, prefix: 9 }),
            (ms(44809), Action::Withdraw { node: 8, prefix: 9 }),
        ],
        44809,
    );
}

/// Found with the core's fixes of issue 13 merged (the core before them runs these faults
/// differently and does not loop here): node 8 restarts under a new router-id, and 56 ms later
/// nodes 6 and 1, which both kept their state, forward its /128 to each other. Neither is the
/// node that restarted, so the restart allowance does not cover it.
///
/// Passes now, but not because its class is gone: nodes 6 and 1 selected routes from different
/// sources (node 8's old and new router-id), each source's graph acyclic, their union not: the
/// transient loop RFC 8966 §1.1 allows when a prefix has several origins. The retraction fixes
/// moved this run's timing; the hunt still finds such loops (4-40 ms) after router-id changes
/// and among several origins.
#[test]
fn router_id_change_does_not_loop_elsewhere() {
    assert_survives(
        config(65, 11, 1, 2, 5),
        &[
            (ms(37943), Action::ChangeRouterId(9)),
            (ms(40447), Action::HealLink(5)),
            (ms(40551), Action::ChangeRouterId(8)),
        ],
        40551,
    );
}

#pragma once
// The Tracker's options, one group per part of the tracker (tracker.h describes what each part
// does). Every threshold the tracker uses is a named field here, with where its value came
// from. "Hand-set in <commit>" means the value was chosen when that code was written and no
// sweep or measurement of it is recorded; the others name the trace they were measured on.
// Changing a default changes tracking: the golden replay test (tests/golden) shows it.

#include <cstdint>

namespace smartbus {

// Most hypotheses the matcher can keep per vehicle (MatchingOptions::max_hypotheses <= this).
inline constexpr int kMaxHypotheses = 8;

// Rejection of fixes before they reach a vehicle's state (fix_filter.h).
struct RejectionOptions {
  // A fix farther than jump_speed_mps * dt + jump_slack_m (straight line) from the previous
  // accepted one is an implausible_jump ... Default 60 m/s and 1000 m (hand-set in 794e677).
  double jump_speed_mps = 60;
  double jump_slack_m = 1000;
  // ... unless this many such fixes in a row agree with each other: then the previous position
  // was the wrong one and the vehicle is re-anchored. Default 3 (hand-set in 794e677).
  int jump_reanchor_fixes = 3;
  // Fixes more than this ahead of the engine clock are future_timestamp (s). Default 300.
  int64_t future_tolerance_s = 300;
  // A late (out_of_order) fix is projected for history within this behind the vehicle's
  // current place on its shape (m). Default 3000 (hand-set in 794e677).
  double late_fix_window_m = 3000;
};

// The HMM map matcher on one shape (shape_matcher.h).
struct MatchingOptions {
  // GPS noise (m) used when the fix has no accuracy, until the feed's noise is learned: with
  // learn_gps_sigma, the noise of fixes without an accuracy is estimated from their offsets from
  // known paths by buses in service (GpsNoiseModel, persisted with the model) and used once it
  // has GpsNoiseModel::kMinFixes of them, bounded below by min_sigma_m, for the fixes of started
  // trips and by blind trip inference (a bus before its start, at or driving to its stand, keeps
  // gps_sigma_m). Default 8 (hand-set in 794e677). learn_gps_sigma default true: the simulator's
  // sigma 3 / 8 / 15 is recovered within 4 % on two cities; WMATA's positions are snapped to its
  // shapes (median offset 0.1 m): 3 m (bench/RESULTS.md "GPS noise learned per feed").
  double gps_sigma_m = 8;
  bool learn_gps_sigma = true;
  // A reported accuracy is taken as sigma, but never below this (m). Default 3 (794e677).
  double min_sigma_m = 3;
  // Emission cost: 0.5 z^2 of the offset in sigmas, capped at emission_cap (an outlier costs a
  // constant), plus emission_per_m per metre of offset (prefers the nearer of two equally
  // likely passes). Defaults 4.5 (3 sigma) and 0.01 (hand-set in 794e677).
  double emission_cap = 4.5;
  double emission_per_m = 0.01;
  // Passes of the shape farther than this from a fix are not candidates (m). Default 120.
  double candidate_radius_m = 120;
  // A fix farther than this from the trip's shape counts towards off_route (m). Default 70.
  double off_route_m = 70;
  // This many such fixes in a row make the vehicle off_route. Default 2.
  int off_route_fixes = 2;
  // Progress along the shape may go back this much (GPS jitter) (m). Default 30.
  double back_tolerance_m = 30;
  // Fastest plausible progress along the shape (m/s). Default 30.
  double max_speed_mps = 30;
  // Slack added to the reachable window of each step (m). Default 50 (hand-set in 3ec8910).
  double reach_slack_m = 50;
  // A bus speeds up by at most this over twice its current speed between two fixes (m/s).
  // Default 12 (hand-set in 3ec8910).
  double accel_slack_mps = 12;
  // Transition cost: | travelled along the shape - straight-line distance | / this (m).
  // Default 20 (hand-set in 794e677, Newson & Krumm's beta order of magnitude).
  double transition_beta_m = 20;
  // Hypotheses closer than this are one (m). Default 10 (794e677).
  double merge_m = 10;
  // Hypotheses kept per vehicle (<= kMaxHypotheses). Default 4.
  int max_hypotheses = 4;
  // Reported bearing is used when speed >= this (m/s). Default 3.
  double heading_min_speed_mps = 3;
  // Direction cost: heading_weight * (1 - cos)^2; 0 aligned, ~0.6 at 60 deg, 2.25 at 90 deg,
  // 9 opposite. Default 2.25 (hand-set in 794e677, written as a dot product in c993ffc).
  double heading_weight = 2.25;
  // Initial placement: cost per metre away from where the schedule puts the bus (a weak prior)
  // = 1 / this. Default 1500 m (hand-set in 794e677).
  double schedule_prior_m = 1500;
  // Before its start a bus is near its first stop: cost per metre beyond it = 1 / this.
  // Default 1000 m (hand-set in 75934ac: a pre-trip move goes a few hundred metres).
  double prestart_prior_m = 1000;
  // A bus not on its trip's shape but within this of the trip's first stop is in layover (m).
  // Default 300.
  double layover_radius_m = 300;
};

// Stop visits and the start of a trip (visit_detector.h).
struct VisitOptions {
  // Stop visit radii (m): arrival when reaching stop - arrival_radius_m, departure when passing
  // stop + departure_radius_m. Defaults 0 (the crossing of the stop's position, as the
  // reference ground truth in ../shared/tools/sbeval.py defines it) and 10.
  double arrival_radius_m = 0;
  double departure_radius_m = 10;
  // A bus standing still farther than this before its next stop is held by traffic (crossing
  // times are interpolated from the end of the hold); nearer, it is at the stop (m). Default 15.
  double stop_zone_m = 15;
  // Trip start gate: the bus must be start_leave_m past the first stop, moving forward (m; at
  // most start_leave_fraction of the trip), default 400 and 0.3: the manoeuvres of a layover
  // (around the block, back to the stand) stay inside that (760555a); and no earlier than
  // early_start_s before its scheduled departure (default 300 s), unless it is pretrip_zone_m
  // along the route whatever the time (default 1000 m).
  int64_t early_start_s = 300;
  double pretrip_zone_m = 1000;
  double start_leave_m = 400;
  double start_leave_fraction = 0.3;
  // A fix moves forward when it is at least this further along than the previous one (m).
  // Default 10 (hand-set in 760555a).
  double moving_m = 10;
  // Before the start, a bus that makes no progress for this long away from the first stop is
  // parked (a layover spot): stops behind it do not get visits (s). Default 180.
  int64_t parked_s = 180;
  // ... "progress" meaning at least this much further along (m). Default 20 (760555a).
  double parked_progress_m = 20;
  // A bus starting this close to its first stop waited at it: the first stop gets a visit (m).
  // Default 50 (hand-set in 75934ac).
  double first_stop_zone_m = 50;
};

// The end of a trip (tracker.cc; the visit detector finishes a trip at its last stop).
struct TripEndOptions {
  // The trip is finished when the bus reaches its last stop - end_radius_m (m). Default 40.
  double end_radius_m = 40;
  // Without trip_id, a trip is also finished when the bus leaves the shape within
  // end_leave_zone_m of its last stop (default 400 m), or stands still for end_stall_s (default
  // 120 s) within end_stall_zone_m of it (default 200 m; farther, a standing bus is taken for a
  // timepoint hold). 200 m was chosen on the WMATA 2026-02-16 trace (150 m: 96.9%, 250 m: 96.7%
  // trip agreement).
  double end_leave_zone_m = 400;
  double end_stall_zone_m = 200;
  int64_t end_stall_s = 120;
};

// Trip inference without trip_id (trip_inference.h).
struct InferenceOptions {
  // Trips considered start within infer_early_s after the fix or ended up to infer_late_s
  // before it. Defaults 40 min and 40 min.
  int64_t infer_early_s = 2400;
  int64_t infer_late_s = 2400;
  // An inferred trip stays open to the joint assignment of the buses on its pattern until it
  // has been unchanged in service this long (s), or the bus moved on to the next trip of its
  // block. Default 600.
  int64_t infer_confirm_s = 600;
  // ... and the bus has run this far along it since it started or joined it (m). Default 1000.
  double infer_confirm_m = 1000;
  // An inferred trip is examined again (at most every infer_recheck_s, default 60 s) when the
  // bus has stood still mid-route for infer_standing_s (default 300 s: longer than a stop or a
  // timepoint hold; on the WMATA 2026-02-16 trace 180 s and 240 s cost 9 fixes of trip
  // agreement, 300 s none), or when a confirmed one has been off its shape for infer_lost_s
  // (default 300 s).
  int64_t infer_recheck_s = 60;
  int64_t infer_standing_s = 300;
  int64_t infer_lost_s = 300;
  // A fix whose given trip_id's shape is farther than this for trip_mismatch_fixes fixes in a
  // row counts as a trip_id_mismatch (m, fixes). Defaults 500 and 5.
  double trip_mismatch_m = 500;
  int trip_mismatch_fixes = 5;

  // "Mid-route": farther than mid_after_first_m past the first stop and more than
  // mid_before_last_m before the last one (m). Defaults 200 and 300 (hand-set in b86b2bb).
  double mid_after_first_m = 200;
  double mid_before_last_m = 300;
  // A bus within this of where it stood is still standing there (m). Default 25 (b86b2bb).
  double still_m = 25;
  // Travel that gives the direction of a slow bus (m), used while at most move_max_age_s old.
  // Defaults 40 m and 120 s (hand-set in 4ce5630).
  double move_m = 40;
  int64_t move_max_age_s = 120;
  // The trail (TrailCost, issue 11: geometry and movement first): the bus's last kTrailSize
  // positions within trail_max_age_s each weigh trail_weight times a fix's emission. Defaults
  // 600 s (a 2-min feed: 4 positions) and 0.5 (an older position says less than the fix
  // itself). Checked on the WMATA day (blind, and shapeless + 120 s + blind), the simulated
  // demo city (3 seeds) and the NYC Staten Island feed simulated blind without shapes:
  // weight 1.0 and 0.5 equal everywhere but Staten Island (54.0 vs 54.6 % agreement).
  int64_t trail_max_age_s = 600;
  double trail_weight = 0.5;
  // The pace over the trail (PaceCost): the delay a bus gained on a candidate trip since its
  // oldest trail position costs pace_weight times what a delay costs (late_scale_s /
  // early_scale_s): no scale of its own. Default 1. Measured (blind4, replay +
  // trip_agreement.py) on NYC Staten Island simulated blind without shapes, seeds 1/2/3,
  // agreement %: 0 (none) 56.71 / 58.50 / 60.82; 0.5: 55.97 / 60.68 / 60.29; 1: 56.49 / 60.41 /
  // 61.02; 2: 56.33 / 59.87 / 60.58. WMATA shapeless + 120 s + blind 95.49 -> 95.66 with any of
  // them; WMATA blind, the demo city (blind day, Wed seeds 3/4, the morning) unchanged.
  double pace_weight = 1.0;
  // At a fork (TakeForkedPattern) a pattern from another first stop is taken only when the
  // bus's trail has at least this many positions, all on its path, the oldest infer_confirm_m
  // or more behind (FollowedPath). Default 3 (6 min of a 2-min feed). Measured on NYC Staten
  // Island simulated blind without shapes, seeds 1/2/3, agreement % (run-to-run noise 0.3;
  // without the span condition): no such fork 55.35 / 56.50 / 58.26; 1 position 54.61 / 57.99
  // / 58.26; 3: 54.89 / 58.15 / 59.44; 4: 54.25 / 57.81 / 58.38. With 3, the span 0 / 500 /
  // 1000 / 2000 m: 54.28 / 58.15 / 59.44, 54.78 / 58.35 / 59.55, 55.56 / 58.24 / 58.83,
  // 54.11 / 57.70 / 58.17. WMATA (blind; shapeless, thinned, blind) and the demo city (blind,
  // 3 seeds) unchanged by all of them.
  int fork_trail_positions = 3;
  // A started bus matched this many back_tolerance_m behind its progress is going the other
  // way. Default 3 (4ce5630: 90 m with the default tolerance).
  double backward_tolerances = 3;

  // Schedule cost of a place and time on a trip (SchedCost): a bus waiting near the first stop
  // (within mid_after_first_m) before the departure costs 1 per wait_scale_s; otherwise 1 per
  // late_scale_s late or per early_scale_s early. Defaults 600, 300, 120 s (hand-set in
  // 794e677: running early is rarer than running late).
  double wait_scale_s = 600;
  double late_scale_s = 300;
  double early_scale_s = 120;
  // Costs added in Infer: a trip held by another bus (claim_cost_weak when that bus holds it
  // weakly, claim_cost_strong otherwise; 0aa8947), keeping the current trip (keep_bonus,
  // subtracted; d6455ef), a place within near_end_m of the last stop (near_end_cost; 3782c8a);
  // a place within finished_zone_m of the last stop is not taken by a bus that just finished
  // a trip within layover_radius_m. Defaults 1, 6, 1, 150 m, 1, 300 m (all hand-set).
  double claim_cost_weak = 1.0;
  double claim_cost_strong = 6.0;
  double keep_bonus = 1.0;
  double near_end_m = 150;
  double near_end_cost = 1.0;
  double finished_zone_m = 300;
  // A bus standing mid-route longer than stand_grace_s past the scheduled time there costs 1
  // per stand_scale_s more (b86b2bb). Defaults 60 s and 60 s.
  double stand_grace_s = 60;
  double stand_scale_s = 60;
  // Weak holding (WeaklyHeld): a bus standing mid-route for weak_standing_s, or waiting near
  // its first stop weak_late_s past its departure. Defaults 60 s and 120 s (0aa8947, 11da592).
  int64_t weak_standing_s = 60;
  double weak_late_s = 120;

  // Joint assignment of a pattern (SolvePattern): at most once per solve_interval_s per
  // pattern; buses whose last fix is older than solve_max_age_s are left out; leaving a bus on
  // its current trip costs solve_skip_cost, keeping its trip earns solve_keep_bonus. Defaults
  // 20 s, 300 s, 8, 0.3 (hand-set in d6455ef).
  int64_t solve_interval_s = 20;
  int64_t solve_max_age_s = 300;
  double solve_skip_cost = 8.0;
  double solve_keep_bonus = 0.3;

  // Departure re-decision at the first stop (RedecideAtDeparture): trips departing from
  // depart_window_before_s before to depart_window_after_s after the departure seen, out of
  // the trips around it (redecide_around_before_s / redecide_around_after_s); cost 1 per
  // depart_late_scale_s late or depart_early_scale_s early, keep_bonus for the current trip;
  // another pattern from the same stop qualifies when the bus is within half of off_route_m of
  // it and its run matches within depart_run_match_m (searched redecide_search_slack_m
  // beyond). The departure is when the bus passes depart_probe_m past the first stop.
  // Defaults 1800 s, 900 s, 15 min, 3 h, 300 s, 60 s, 50 m, 100 m, 30 m (hand-set in d6455ef).
  double depart_window_before_s = 1800;
  double depart_window_after_s = 900;
  int64_t redecide_around_before_s = 15 * 60;
  int64_t redecide_around_after_s = 3 * 3600;
  double depart_late_scale_s = 300;
  double depart_early_scale_s = 60;
  double depart_run_match_m = 50;
  double redecide_search_slack_m = 100;
  double depart_probe_m = 30;

  // A bus that reached its first stop late for a trip still needs some time (recovery,
  // boarding) before it leaves; standing ready there longer than this past the scheduled
  // departure says it waits for a later trip (DepartureCost). Default 300 s: a few minutes of
  // recovery (hand-set; checked on the WMATA day and the simulated demo city, issue 11).
  double depart_ready_grace_s = 300;

  // A named trip's instance is looked for within this of its run (s). Default 4 h (d73c786).
  int64_t instance_window_s = 4 * 3600;
};

struct TrackerOptions {
  RejectionOptions rejection;
  MatchingOptions matching;
  VisitOptions visits;
  TripEndOptions trip_end;
  InferenceOptions inference;
};

}  // namespace smartbus

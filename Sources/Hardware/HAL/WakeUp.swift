import SystemCalls

/// The wake-up a clock wait ends early on (``HALClock/sleep(for:wakeUp:)``): the general
/// threading primitive from `SystemCalls`, named here so drivers and clocks need only `HAL`.
public typealias WakeUp = SystemCalls.WakeUp

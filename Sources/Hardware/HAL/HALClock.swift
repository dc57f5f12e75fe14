/// Time as drivers, the sampler and the simulation see it (time is injected).
///
/// `now` is monotonic and starts at an arbitrary point; `sleep(for:)` waits. The system clock
/// really waits; a simulation's virtual clock just moves forward, so a simulated day runs in
/// milliseconds and tests never sleep.
public protocol HALClock: AnyObject, Sendable {
    var now: Duration { get }
    func sleep(for duration: Duration)
    /// Sleeps until `duration` has passed or `wakeUp` is raised, whichever comes first; true when
    /// it was woken. The clock moves only as far as the wait went.
    func sleep(for duration: Duration, wakeUp: WakeUp) -> Bool
    /// Runs `body`, one burst of chip work (a sample of every sensor), on the calling thread. A
    /// clock that stands for wall time at a pace (a simulated board at `--time-scale` above 0)
    /// lets the burst's ``sleep(for:)`` calls pass at once and then waits, once, until the wall
    /// time the burst's end stands for: the simulated chips convert the same samples at the same
    /// simulated instants, the burst ends at the same wall instant, and the thread wakes once
    /// instead of once per conversion wait. Every other clock just runs `body`.
    func coalescingWaits<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T
}

extension HALClock {
    /// For a clock whose sleeps take no real time: a raise can only be seen before or after.
    public func sleep(for duration: Duration, wakeUp: WakeUp) -> Bool {
        if wakeUp.consume() { return true }
        sleep(for: duration)
        return wakeUp.consume()
    }

    public func coalescingWaits<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        try body()
    }
}

extension Duration {
    /// Seconds as a `Double` (for arithmetic on signals and rates).
    public var seconds: Double {
        let (s, attos) = components
        return Double(s) + Double(attos) / 1e18
    }

    public var milliseconds: Double { seconds * 1000 }
}

@testable import AgentRuntime
import Testing

/// `status.json` is written on change, at most once a second, and otherwise only at the
/// heartbeat; the policy is driven here by hand-set times (no sleeping, no real clock).
@Suite struct StatusWritePolicyTests {
    /// A manual clock for the policy: seconds since an arbitrary start.
    struct Clock {
        var now: Duration = .seconds(100)
        mutating func advance(_ seconds: Double) { now += .milliseconds(Int64(seconds * 1000)) }
    }

    @Test func theFirstLookWritesAndAnUnchangedStatusWaitsForTheHeartbeat() {
        var clock = Clock()
        var policy = StatusWritePolicy()
        #expect(policy.changed(at: clock.now) == clock.now)
        let first = policy.fire(at: clock.now) { Array("a".utf8) }
        #expect(first.write)
        #expect(first.next == clock.now + .seconds(10))
        // Something may have changed, but the content is the same: nothing written.
        clock.advance(3)
        #expect(policy.changed(at: clock.now) == clock.now)
        let same = policy.fire(at: clock.now) { Array("a".utf8) }
        #expect(!same.write)
        #expect(same.next == .seconds(110))
        // The heartbeat writes the same content again (the time stamp moves).
        clock.now = .seconds(110)
        #expect(policy.fire(at: clock.now) { Array("a".utf8) }.write)
    }

    @Test func changesWithinASecondOfAWriteAreHeldBackAndWrittenTogether() {
        var clock = Clock()
        var policy = StatusWritePolicy()
        _ = policy.changed(at: clock.now)
        #expect(policy.fire(at: clock.now) { Array("v1".utf8) }.write)
        var built = 0
        for _ in 0..<5 {
            clock.advance(0.1)
            #expect(policy.changed(at: clock.now) == .seconds(101))   // one second after the write
        }
        // A timer that fires early (or a stale one) writes nothing and builds nothing.
        let early = policy.fire(at: clock.now) { built += 1; return Array("v2".utf8) }
        #expect(!early.write)
        #expect(early.next == .seconds(101))
        #expect(built == 0)
        clock.now = .seconds(101)
        let due = policy.fire(at: clock.now) { built += 1; return Array("v6".utf8) }
        #expect(due.write)
        #expect(built == 1)
    }

    @Test func withoutAChangeNothingIsBuiltBeforeTheHeartbeat() {
        var clock = Clock()
        var policy = StatusWritePolicy()
        _ = policy.changed(at: clock.now)
        _ = policy.fire(at: clock.now) { Array("a".utf8) }
        clock.advance(5)
        var built = false
        let look = policy.fire(at: clock.now) { built = true; return Array("a".utf8) }
        #expect(!look.write)
        #expect(!built)
        #expect(look.next == .seconds(110))
    }
}

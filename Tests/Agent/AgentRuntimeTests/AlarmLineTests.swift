@testable import AgentRuntime
import SensorCore
import Testing

/// Issue 15: the alarm line rises for a failed sensor, a long link outage and dropped backlog as
/// well as for a spike, each switchable, and says why.
@Suite struct AlarmLineTests {
    func reading(_ sensor: String, ok: Bool) -> Reading {
        Reading(sensor: sensor, channel: .temperature, value: ok ? .celsius(21) : nil, quality: ok ? .good : .unavailable, time: .zero)
    }

    @Test func aSpikeHoldsTheLineForTheHoldTime() {
        var line = AlarmLine(rules: .init(hold: .seconds(30)))
        line.spike(at: .seconds(100), description: "ambient.temperature")
        #expect(line.reasons(at: .seconds(129)) == ["spike alert (ambient.temperature), held 30s"])
        #expect(line.reasons(at: .seconds(130)).isEmpty)
    }

    @Test func aFailedSensorHoldsTheLineUntilItReadsAgainUnlessSwitchedOff() {
        var line = AlarmLine(rules: .init(hold: .seconds(30)))
        line.sample([reading("ambient", ok: false), reading("vibration", ok: true)])
        #expect(line.reasons(at: .seconds(5)) == ["sensor ambient failed"])
        line.sample([reading("ambient", ok: true)])
        #expect(line.reasons(at: .seconds(6)).isEmpty)

        var off = AlarmLine(rules: .init(hold: .seconds(30), sensorFailure: .off))
        off.sample([reading("ambient", ok: false)])
        #expect(off.reasons(at: .seconds(5)).isEmpty)
    }

    @Test func theLinkDownLongerThanTheLimitRaisesTheLine() {
        var line = AlarmLine(rules: .init(hold: .seconds(30), linkDown: .seconds(600)))
        line.link(connected: false, at: .seconds(10))
        line.link(connected: false, at: .seconds(609))
        #expect(line.reasons(at: .seconds(609)).isEmpty)
        #expect(line.reasons(at: .seconds(610)) == ["hub link down longer than 10m"])
        // The same reason all through the outage: the line is logged raised once, not per sample.
        line.link(connected: false, at: .seconds(21_600))
        #expect(line.reasons(at: .seconds(21_600)) == line.reasons(at: .seconds(610)))
        line.link(connected: true, at: .seconds(611))
        #expect(line.reasons(at: .seconds(611)).isEmpty)
        // No hub configured: never.
        var noHub = AlarmLine(rules: .init(hold: .seconds(30), linkDown: .seconds(1)))
        noHub.link(connected: nil, at: .zero)
        #expect(noHub.reasons(at: .seconds(100)).isEmpty)
        // Zero: switched off.
        var never = AlarmLine(rules: .init(hold: .seconds(30), linkDown: .zero))
        never.link(connected: false, at: .zero)
        #expect(never.reasons(at: .seconds(100_000)).isEmpty)
    }

    @Test func droppedBacklogRaisesTheLineForTheHoldTimeAfterTheLastDrop() {
        var line = AlarmLine(rules: .init(hold: .seconds(30)))
        line.outboxDrops(4, at: .seconds(1))  // drops from before this start are the baseline
        #expect(line.reasons(at: .seconds(1)).isEmpty)
        line.outboxDrops(7, at: .seconds(50))
        #expect(line.reasons(at: .seconds(79)) == ["outbox dropped 3 queued messages"])
        #expect(line.reasons(at: .seconds(80)).isEmpty)

        var off = AlarmLine(rules: .init(hold: .seconds(30), droppedBacklog: .off))
        off.outboxDrops(0, at: .zero)
        off.outboxDrops(9, at: .seconds(1))
        #expect(off.reasons(at: .seconds(2)).isEmpty)
    }
}

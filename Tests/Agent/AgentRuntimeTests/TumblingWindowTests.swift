@testable import AgentRuntime
import Foundation
import SensorCore
import Testing

/// Issue 15: the recipe's 5-minute tumbling aggregates, on wall-clock boundaries.
@Suite struct TumblingWindowTests {
    /// 2026-12-03 10:00:00 UTC.
    let ten = Date(timeIntervalSince1970: 1_796_292_000)

    func temperature(_ value: Double) -> [Reading] {
        [Reading(sensor: "ambient", channel: .temperature, value: .celsius(value), quality: .good, time: .zero)]
    }

    @Test func windowsStartOnClockBoundariesWheneverTheAgentStarted() {
        #expect(TumblingWindow.boundary(of: ten.addingTimeInterval(299.9), width: .seconds(300)) == ten)
        #expect(TumblingWindow.boundary(of: ten.addingTimeInterval(300), width: .seconds(300)) == ten.addingTimeInterval(300))
        #expect(TumblingWindow.boundary(of: ten.addingTimeInterval(3599), width: .seconds(3600)) == ten)
    }

    @Test func eachWindowClosesWithAverageMinimumMaximumAndCount() throws {
        var window = TumblingWindow(width: .seconds(300))
        // Started at 10:02:30: the first window is partial.
        var closed: [WindowAggregate] = []
        for (offset, value) in [(150.0, 20.0), (200, 22), (310, 21), (400, 25), (599, 23), (600, 30)] {
            if let done = window.add(temperature(value), at: ten.addingTimeInterval(offset), width: .seconds(300), deviceID: "d") {
                closed.append(done)
            }
        }
        try #require(closed.count == 2)
        #expect(closed[0].windowStart == "2026-12-03T10:00:00.000Z")
        #expect(closed[0].windowEnd == "2026-12-03T10:05:00.000Z")
        #expect(closed[0].partial == true)
        #expect(closed[0].readings["ambient"]?["temperature"] == ChannelAggregate(avg: 21, min: 20, max: 22, count: 2, unit: "°C"))
        #expect(closed[1].windowStart == "2026-12-03T10:05:00.000Z")
        #expect(closed[1].partial == nil, "seen from its start")
        #expect(closed[1].readings["ambient"]?["temperature"] == ChannelAggregate(avg: 23, min: 21, max: 25, count: 3, unit: "°C"))
        #expect(closed[1].windowSeconds == 300)
    }

    @Test func aNewWidthClosesTheWindowInProgressAndTheNextIsPartial() throws {
        var window = TumblingWindow(width: .seconds(300))
        _ = window.add(temperature(20), at: ten.addingTimeInterval(10), width: .seconds(300), deviceID: "d")
        let first = window.add(temperature(21), at: ten.addingTimeInterval(20), width: .seconds(60), deviceID: "d")
        let closed = try #require(first)
        #expect(closed.windowSeconds == 300)
        let second = window.add(temperature(22), at: ten.addingTimeInterval(61), width: .seconds(60), deviceID: "d")
        let next = try #require(second)
        #expect(next.windowStart == "2026-12-03T10:00:00.000Z" && next.windowSeconds == 60)
        #expect(next.partial == true)
    }

    @Test func aFailedReadingIsNotCounted() {
        var window = TumblingWindow(width: .seconds(60))
        _ = window.add([Reading(sensor: "ambient", channel: .temperature, value: nil, quality: .unavailable, time: .zero)],
                       at: ten, width: .seconds(60), deviceID: "d")
        _ = window.add(temperature(20), at: ten.addingTimeInterval(1), width: .seconds(60), deviceID: "d")
        let closed = window.add(temperature(20), at: ten.addingTimeInterval(60), width: .seconds(60), deviceID: "d")
        #expect(closed?.readings["ambient"]?["temperature"]?.count == 1)
    }
}

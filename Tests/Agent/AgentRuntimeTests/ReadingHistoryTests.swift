@testable import AgentRuntime
import Testing

/// The page's chart history: per (sensor, channel), the newest 720 period averages within the
/// last hour.
@Suite struct ReadingHistoryTests {
    func message(_ value: Double) -> TelemetryMessage {
        TelemetryMessage(deviceId: "d", seq: 1, timestamp: "", periodSeconds: 2, temperature: value, humidity: nil, pressure: nil,
                         vibration: nil, vibrationPeak: nil,
                         readings: ["ambient": ["temperature": ChannelAggregate(avg: value, min: value, max: value, count: 1, unit: "°C")]],
                         sensorHealth: [:])
    }

    @Test func keepsTheNewest720PointsInOrder() throws {
        var history = ReadingHistory()
        for i in 0..<2_000 { history.add(message(Double(i)), time: Double(i)) }  // 1 s apart: all within the hour
        let series = try #require(history.series().first)
        #expect(series.points.count == 720)
        #expect(series.points.map(\.value) == (1_280..<2_000).map(Double.init))
        #expect(series.points.last?.age == 0)
        #expect(series.points.first?.age == 719)
    }

    @Test func dropsPointsOlderThanAnHour() throws {
        var history = ReadingHistory()
        for i in 0..<100 { history.add(message(Double(i)), time: Double(i) * 60) }  // a point a minute
        let series = try #require(history.series().first)
        #expect(series.points.map(\.value) == (39..<100).map(Double.init))  // ages 0…3600 s
        #expect(series.points.first?.age == 3_600)
    }
}

import Testing
@testable import Predictor

/// Event-level scoring on a hand-made series (docs/predictor.md, "Evaluation").
struct DetectionReportTests {
    func bits(_ s: String) -> [Bool] { s.map { $0 == "1" } }

    @Test func scoresEventsAlarmsAndDelays() {
        var r = DetectionReport()
        // events:  [2,4] detected at 3 (delay 1); [10,11] missed.
        // alarms:  [3,3] true; [6,6] within grace 2 of event end 4: true; [14,15] false.
        r.add(labels: bits("0011100000110000"), flags: bits("0001001000000011"), sampleInterval: 5, grace: 2)
        #expect(r.events == 2 && r.detected == 1)
        #expect(r.alarms == 3 && r.trueAlarms == 2 && r.falseAlarms == 1)
        #expect(r.delays == [1])
        #expect(r.precision == 2.0 / 3 && r.recall == 0.5)
        #expect(abs(r.f1 - 2 * (2.0 / 3) * 0.5 / (2.0 / 3 + 0.5)) < 1e-12)
        #expect(r.simulatedSeconds == 80)
        #expect(abs(r.falseAlarmsPerDay - 86_400 / 80) < 1e-9)
        #expect(r.medianDelay == 1 && r.meanDelay == 1)
    }

    @Test func anAlarmAfterTheGraceIsFalse() {
        var r = DetectionReport()
        r.add(labels: bits("1100000"), flags: bits("0000010"), sampleInterval: 1, grace: 2)
        #expect(r.detected == 0 && r.falseAlarms == 1)
    }

    @Test func emptyReportsScoreZero() {
        let r = DetectionReport()
        #expect(r.f1 == 0 && r.precision == 0 && r.recall == 0 && r.meanDelay == nil && r.falseAlarmsPerDay == 0)
    }
}

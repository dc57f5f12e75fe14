import AgentRuntime
import Foundation
import Testing

struct RenewalScheduleTests {
    let issued = Date(timeIntervalSince1970: 1_800_000_000)
    let day = 86_400.0

    @Test("a 30-day certificate with renew_before 7d and jitter 1d is renewed 7 to 8 days before expiry")
    func dueInsideTheWindow() {
        let schedule = RenewalSchedule(renewBefore: .seconds(7 * 86_400), jitter: .seconds(86_400))
        let expiry = issued.addingTimeInterval(30 * day)
        #expect(schedule.due(notBefore: issued, notAfter: expiry, share: 0) == issued.addingTimeInterval(23 * day))
        #expect(schedule.due(notBefore: issued, notAfter: expiry, share: 0.5) == issued.addingTimeInterval(22.5 * day))
        #expect(schedule.due(notBefore: issued, notAfter: expiry, share: 0.999_999).timeIntervalSince(issued) > 22 * day)
    }

    @Test("a certificate shorter than the window is renewed at half its life, not at once and again")
    func neverBeforeHalfLife() {
        let schedule = RenewalSchedule(renewBefore: .seconds(30 * 86_400), jitter: .seconds(86_400))
        let expiry = issued.addingTimeInterval(7 * day)
        #expect(schedule.due(notBefore: issued, notAfter: expiry, share: 0.3) == issued.addingTimeInterval(3.5 * day))
    }

    @Test("retries double from 1 minute to the 1-hour cap, and the last one comes before expiry")
    func retries() {
        let schedule = RenewalSchedule(renewBefore: .seconds(86_400), jitter: .zero)
        let expiry = issued.addingTimeInterval(10 * day)
        let delays = (1...9).map { schedule.retry(failures: $0, now: issued, notAfter: expiry).timeIntervalSince(issued) }
        #expect(delays == [60, 120, 240, 480, 960, 1_920, 3_600, 3_600, 3_600])
        let late = expiry.addingTimeInterval(-600)
        #expect(schedule.retry(failures: 9, now: late, notAfter: expiry) == expiry.addingTimeInterval(-60),
                "ten minutes before expiry, the next try is one minute before it, not an hour later")
    }
}

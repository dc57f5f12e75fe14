import FoundationEssentials

/// When the agent renews its operational certificate (issue 17 item 3): `renewBefore` its expiry,
/// earlier by a random share of `jitter` so a fleet issued at once does not renew at once, and
/// never before half its validity has passed, so a short-lived certificate (DPS issues 7 to 90
/// days) with a long `renewBefore` is not renewed in a loop. After a failed attempt it tries again
/// with a doubling delay from `retryBase` to `retryCap`, and never later than just before expiry.
///
/// Pure: the times and the random share are given.
public struct RenewalSchedule: Sendable, Equatable {
    public var renewBefore: Duration
    public var jitter: Duration
    public var retryBase: Duration = .seconds(60)
    public var retryCap: Duration = .seconds(3_600)

    public init(renewBefore: Duration, jitter: Duration) {
        self.renewBefore = renewBefore
        self.jitter = jitter
    }

    /// When to renew a certificate valid from `notBefore` to `notAfter`; `share` in 0 ..< 1 picks
    /// the point in the jitter.
    public func due(notBefore: Date, notAfter: Date, share: Double) -> Date {
        let planned = notAfter.addingTimeInterval(-(Self.seconds(renewBefore) + Self.seconds(jitter) * min(max(share, 0), 1)))
        let halfLife = notBefore.addingTimeInterval(notAfter.timeIntervalSince(notBefore) / 2)
        return max(planned, halfLife)
    }

    /// When to try again after `failures` failed attempts (1 after the first) at `now`: the
    /// doubling delay, but at the latest one `retryBase` before expiry while that is still ahead.
    public func retry(failures: Int, now: Date, notAfter: Date) -> Date {
        let exponent = min(max(failures - 1, 0), 30)
        let delay = min(Self.seconds(retryBase) * Double(1 << exponent), Self.seconds(retryCap))
        let next = now.addingTimeInterval(delay)
        let lastChance = notAfter.addingTimeInterval(-Self.seconds(retryBase))
        return lastChance > now ? min(next, lastChance) : next
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

import Glibc
import HAL
import SystemCalls

/// The board's real-time clock as Linux keeps it (`CLOCK_REALTIME`), synchronised when the
/// kernel's NTP state says so (`adjtimex`: `STA_UNSYNC` clear, set by chrony, ntpd or
/// systemd-timesyncd) or systemd-timesyncd has created its marker file.
public final class SystemWallClock: WallClock {
    /// The file systemd-timesyncd creates once it has synchronised the clock.
    public static let timesyncMarker = "/run/systemd/timesync/synchronized"

    public init() {}

    public var sinceEpoch: Duration {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return now.duration
    }

    public var synchronisation: ClockSynchronisation {
        let kernel = try? POSIX.kernelClock()
        if let kernel, kernel.synchronised {
            return ClockSynchronisation(synchronised: true, source: "kernel (adjtimex)", maximumError: kernel.maximumError,
                                        estimatedError: kernel.estimatedError)
        }
        if POSIX.exists(Self.timesyncMarker) {
            return ClockSynchronisation(synchronised: true, source: "systemd-timesyncd (\(Self.timesyncMarker))")
        }
        let source = kernel == nil ? "adjtimex unavailable, no \(Self.timesyncMarker)" : "kernel (adjtimex: STA_UNSYNC), no \(Self.timesyncMarker)"
        return ClockSynchronisation(synchronised: false, source: source)
    }
}

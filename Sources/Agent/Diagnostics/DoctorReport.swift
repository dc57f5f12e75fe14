/// The verdict of one doctor check.
public enum CheckStatus: String, Sendable, Codable, Comparable {
    case ok = "OK"
    case warn = "WARN"
    case fail = "FAIL"

    private var rank: Int { self == .ok ? 0 : self == .warn ? 1 : 2 }
    public static func < (a: CheckStatus, b: CheckStatus) -> Bool { a.rank < b.rank }
}

/// One line of the doctor's table: what was checked, the verdict, why, and what to do about it.
public struct Check: Sendable, Codable, Equatable {
    /// Stable identifier for scripts: `bus:/dev/i2c-1:scan`, `chip:ambient:present`, `gpio:alarm`.
    public var id: String
    /// What a technician reads: `ambient BME280 @ 0x76 present`.
    public var title: String
    public var status: CheckStatus
    public var detail: String
    /// A plain-language remedy; present on every WARN and FAIL.
    public var fix: String?

    public init(id: String, title: String, status: CheckStatus, detail: String, fix: String? = nil) {
        self.id = id
        self.title = title
        self.status = status
        self.detail = detail
        self.fix = fix
    }
}

/// What an `i2cdetect`-style scan of one bus found.
public struct BusScan: Sendable, Codable, Equatable {
    public var bus: String
    /// Addresses that ACKed (7-bit).
    public var present: [UInt8]
    /// Addresses where the probe failed with something other than a NACK, with the error.
    public var errors: [String: String]
}

/// Exit codes of `fieldagent doctor` (documented in the README).
public enum DoctorExitCode: Int32, Sendable {
    /// Every check passed.
    case healthy = 0
    /// At least one warning, no failure: the board works but needs attention.
    case degraded = 1
    /// At least one check failed.
    case failed = 2
    /// The command line or the board file was wrong.
    case usage = 64
}

public struct DoctorReport: Sendable, Codable, Equatable {
    public var board: String
    public var deviceID: String
    public var scans: [BusScan]
    public var checks: [Check]

    public var verdict: CheckStatus { checks.map(\.status).max() ?? .ok }

    public var exitCode: DoctorExitCode {
        switch verdict {
        case .ok: .healthy
        case .warn: .degraded
        case .fail: .failed
        }
    }
}

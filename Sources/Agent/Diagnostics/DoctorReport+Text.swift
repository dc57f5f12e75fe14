import HAL

extension DoctorReport {
    /// The `i2cdetect`-style grid for one scan: `--` nothing, the address in hex when present,
    /// `EE` when probing failed with something other than a NACK.
    public static func grid(_ scan: BusScan) -> String {
        var lines = ["     0  1  2  3  4  5  6  7  8  9  a  b  c  d  e  f"]
        for row in stride(from: 0, to: 0x80, by: 0x10) {
            var line = hex2(UInt8(row)).lowercased() + ":"
            for column in 0..<16 {
                let address = row + column
                if address < 0x08 || address > 0x77 {
                    line += "   "
                } else if scan.present.contains(UInt8(address)) {
                    line += " " + hex2(UInt8(address)).lowercased()
                } else if scan.errors[I2CAddress(UInt8(address)).description] != nil {
                    line += " EE"
                } else {
                    line += " --"
                }
            }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }

    /// The table for people: one line per check with its verdict, and an indented fix under each
    /// warning or failure.
    public func table() -> String {
        var out: [String] = []
        out.append("FieldAgent doctor: board \(board), device \(deviceID)")
        for scan in scans {
            out.append("")
            out.append("I2C bus \(scan.bus):")
            out.append(Self.grid(scan))
        }
        out.append("")
        let width = min(48, checks.map(\.title.count).max() ?? 10)
        for check in checks {
            let title = check.title.count >= width ? check.title : check.title + String(repeating: " ", count: width - check.title.count)
            let status = check.status.rawValue + String(repeating: " ", count: 4 - check.status.rawValue.count)
            out.append("\(status)  \(title)  \(check.detail)")
            if let fix = check.fix, check.status != .ok {
                out.append("      fix: \(fix)")
            }
        }
        let counts = [CheckStatus.ok, .warn, .fail].map { s in "\(checks.filter { $0.status == s }.count) \(s.rawValue)" }
        out.append("")
        out.append("Verdict: \(verdict == .ok ? "healthy" : verdict == .warn ? "degraded" : "failed") (\(counts.joined(separator: ", "))); exit code \(exitCode.rawValue)")
        return out.joined(separator: "\n")
    }
}

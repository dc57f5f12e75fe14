import ChipCatalog
import Boards
import HAL
import SensorCore

/// The doctor's checks for one sensor: present and identified, starts, reads plausibly, self-test.
struct SensorCheck {
    let sensor: Board.Sensor
    let board: Board
    let scan: BusScan
    let reads: Int

    private var chip: BoardFile.Chip { sensor.chip }
    private var label: String { "\(chip.name) \(chip.kind.name) @ \(chip.address)" }
    private func id(_ suffix: String) -> String { "chip:\(chip.name):\(suffix)" }

    func run() -> [Check] {
        guard let present = presence() else { return [] }
        guard present.status != .fail else { return [present] }
        var checks = [present]
        do {
            try sensor.driver.start()
        } catch {
            checks.append(Check(id: id("start"), title: "\(label) start", status: .fail,
                                detail: "\(error)", fix: Self.fix(for: error, chip: chip, bus: sensor.busName)))
            return checks
        }
        var values: [[ChannelValue]] = []
        var failures: [any Error] = []
        for _ in 0..<reads {
            do {
                values.append(try sensor.driver.sample())
            } catch {
                failures.append(error)
                // A failed chip is re-initialised before the next try, as the sampler does.
                try? sensor.driver.start()
            }
        }
        checks.append(readingsCheck(values: values, failures: failures))
        if !values.isEmpty {
            checks.append(plausibilityCheck(values))
        }
        // The self-test needs a chip that is answering now; a chip that just stopped answering
        // is already reported by the readings check.
        if !values.isEmpty, (try? sensor.driver.start()) != nil {
            checks.append(selfTestCheck())
        }
        return checks
    }

    /// Present and identified at its address, or the reason it is not.
    private func presence() -> Check? {
        let title = "\(label) present"
        let here = scan.present.contains(chip.address.rawValue)
        if !here {
            let alternates = chip.kind.addresses.filter { $0 != chip.address && scan.present.contains($0.rawValue) }
            if let other = alternates.first(where: { (try? chip.kind.identify(bus: sensor.bus, address: $0, clock: board.clock)) ?? false }) {
                return Check(id: id("present"), title: title, status: .fail,
                             detail: "no ACK at \(chip.address) on \(sensor.busName), but a \(chip.kind.family) answers at \(other)",
                             fix: "set address: \(other) for '\(chip.name)' in the board file, or strap the \(chip.kind.addressPin) pin for \(chip.address)")
            }
            let others = chip.kind.addresses.filter { $0 != chip.address }.map(\.description).joined(separator: " or ")
            return Check(id: id("present"), title: title, status: .fail,
                         detail: "no ACK at \(chip.address) on \(sensor.busName)",
                         fix: others.isEmpty ? "check the wiring (SDA, SCL, 3V3, GND)"
                             : "check the wiring (SDA, SCL, 3V3, GND) and the \(chip.kind.addressPin) pin, or try \(others)")
        }
        do {
            // Up to three tries: on a noisy bus one corrupted reply must not condemn a good chip
            // (the readings check reports the noise).
            for attempt in 1...3 where try chip.kind.identify(bus: sensor.bus, address: chip.address, clock: board.clock) {
                let note = attempt > 1 ? " (on try \(attempt): replies are being corrupted)" : ""
                let about = chip.kind.descriptor.about?(sensor.bus, chip.address, board.clock).map { " (\($0))" } ?? ""
                return Check(id: id("present"), title: title, status: .ok,
                             detail: "answers at \(chip.address) and identifies as \(chip.kind.descriptor.identifiesAs)\(about)\(note)")
            }
            let actual = ChipCatalog.detect(bus: sensor.bus, address: chip.address, clock: board.clock)
            return Check(id: id("present"), title: title, status: .fail,
                         detail: "a device answers at \(chip.address) but it is \(actual.map { "a \($0.name)" } ?? "not a \(chip.kind.name)") (identity check failed)",
                         fix: "check which part is fitted and set chip: for '\(chip.name)' in the board file to match")
        } catch where error.kind == .noAcknowledge(.address) {
            return Check(id: id("present"), title: title, status: .fail,
                         detail: "answered the bus scan at \(chip.address), then stopped answering (\(error))",
                         fix: Self.droppedOut)
        } catch {
            return Check(id: id("present"), title: title, status: .fail, detail: "identifying failed: \(error)",
                         fix: Self.busFix(error.kind, chip: chip, bus: sensor.busName))
        }
    }

    private func readingsCheck(values: [[ChannelValue]], failures: [any Error]) -> Check {
        let title = "\(label) readings"
        let summary = values.last.map { Self.describe($0) } ?? ""
        if failures.isEmpty {
            return Check(id: id("readings"), title: title, status: .ok, detail: "\(values.count)/\(reads) good: \(summary)")
        }
        let failureNote = "\(failures.count) of \(reads) reads failed (\(failures[0]))"
        let crc = failures.filter { ($0 as? any SensorFailure)?.category == .checksum }.count
        let status: CheckStatus = values.isEmpty ? .fail : crc == failures.count ? .warn : .fail
        var fix = Self.fix(for: failures[0], chip: chip, bus: sensor.busName)
        let nacks = failures.filter { ($0 as? any SensorFailure)?.busError?.kind == .noAcknowledge(.address) }.count
        if nacks > 0, !values.isEmpty || scan.present.contains(chip.address.rawValue) {
            fix = Self.droppedOut
        }
        return Check(id: id("readings"), title: title, status: status,
                     detail: values.isEmpty ? failureNote : "\(failureNote); last good: \(summary)", fix: fix)
    }

    private func plausibilityCheck(_ values: [[ChannelValue]]) -> Check {
        let title = "\(label) plausibility"
        var problems: [String] = []
        var warnings: [String] = []
        var byChannel: [Channel: [Double]] = [:]
        for sample in values {
            for value in sample { byChannel[value.channel, default: []].append(value.quantity.value) }
        }
        for (channel, series) in byChannel.sorted(by: { $0.key < $1.key }) {
            if let range = chip.kind.descriptor.spec(channel)?.plausible, let bad = series.first(where: { !range.contains($0) }) {
                problems.append("\(channel.rawValue) \(channel.format(bad)) outside \(channel.format(range.lowerBound))…\(channel.format(range.upperBound))")
                continue
            }
            let replaying = chip.dump != nil
            if !replaying, series.count >= 3, channel.facts.alwaysNoisy, Set(series).count == 1 {
                warnings.append("\(channel.rawValue) stuck at \(channel.format(series[0])) over \(series.count) reads")
            }
            if let limit = channel.facts.doctorNoiseLimit, series.count >= 3 {
                let mean = series.reduce(0, +) / Double(series.count)
                let sd = (series.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(series.count - 1)).squareRoot()
                if sd > limit {
                    warnings.append("\(channel.rawValue) noisy: standard deviation \(channel.format(sd)) over \(series.count) reads (limit \(channel.format(limit)))")
                }
            }
        }
        if !problems.isEmpty {
            return Check(id: id("plausibility"), title: title, status: .fail, detail: problems.joined(separator: "; "),
                         fix: "a reading outside what the chip can measure means a damaged chip or corrupted data: replace the sensor if it persists after a power cycle")
        }
        if !warnings.isEmpty {
            return Check(id: id("plausibility"), title: title, status: .warn, detail: warnings.joined(separator: "; "),
                         fix: "a stuck value points at a frozen ADC or a bus returning stale data (power-cycle the sensor); noise points at supply ripple or airflow on the sensor")
        }
        return Check(id: id("plausibility"), title: title, status: .ok,
                     detail: "in range\(chip.dump != nil ? " (replaying \(chip.dump.map(Self.basename) ?? "a dump"))" : ", not stuck, noise normal")")
    }

    private func selfTestCheck() -> Check {
        let title = "\(label) self-test"
        if let dump = chip.dump {
            return Check(id: id("selftest"), title: title, status: .ok,
                         detail: "not run: replaying \(Self.basename(dump)), which cannot respond to a self-test")
        }
        do {
            let result = try sensor.driver.selfTest()
            return Check(id: id("selftest"), title: title, status: result.passed ? .ok : .fail, detail: result.detail,
                         fix: result.passed ? nil : "the chip failed its own test: replace the sensor")
        } catch {
            return Check(id: id("selftest"), title: title, status: .fail, detail: "\(error)",
                         fix: Self.fix(for: error, chip: chip, bus: sensor.busName))
        }
    }

    // MARK: Judgement tables

    static let droppedOut = "the chip answered at first, then stopped answering: a loose connector, a cable unplugged or a brown-out; reseat the connector and check the 3V3 supply"

    static func busFix(_ kind: I2CError.Kind?, chip: BoardFile.Chip, bus: String) -> String {
        switch kind {
        case .noAcknowledge(.address)?:
            "no ACK at \(chip.address) on \(bus): check the wiring (SDA, SCL, 3V3, GND) and the \(chip.kind.addressPin) pin"
        case .noAcknowledge(.data)?:
            "the chip refused a command: it may not be a \(chip.kind.family), or it is in a bad state; power-cycle it"
        case .timeout?:
            "the bus timed out (SCL held low): power-cycle the board and look for a device holding the bus"
        case .unsupported?:
            "the I2C adapter cannot do what this chip needs: use an adapter with plain I2C (I2C_RDWR) support"
        default:
            "bus error: check pull-ups (2.2–4.7 kΩ), cable length (under 1 m without a bus extender) and grounding"
        }
    }

    static func fix(for error: any Error, chip: BoardFile.Chip, bus: String) -> String {
        if let busError = error as? I2CError { return busFix(busError.kind, chip: chip, bus: bus) }
        guard let failure = error as? any SensorFailure else {
            return "unexpected error; power-cycle the board and run doctor again"
        }
        switch failure.category {
        case .bus:
            return busFix(failure.busError?.kind, chip: chip, bus: bus)
        case .wrongChip: return "check which part is fitted and set chip: for '\(chip.name)' in the board file to match"
        case .checksum: return "CRC errors mean corrupted bytes on the wire: shorten or shield the cable, check pull-ups (2.2–4.7 kΩ) and the ground connection"
        case .notReady: return "the chip did not finish in time: check its supply voltage and power-cycle it"
        case .notCalibrated: return "the calibration memory reads blank: the part is damaged or counterfeit; replace it"
        case .selfTest: return "the chip failed its own test: replace the sensor"
        case .configuration: return "the driver settings in the board file are not valid for this chip"
        }
    }

    static func describe(_ values: [ChannelValue]) -> String {
        values.map { "\($0.channel.rawValue) \($0.channel.format($0.quantity.value))" }.joined(separator: ", ")
    }

    static func basename(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }
}

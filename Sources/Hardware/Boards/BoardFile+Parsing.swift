import ChipCatalog
import Configuration
import HAL
import HALSimulation
import SensorCore
import YAML

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension BoardFile {
    /// Reads and validates a board file. Every problem is collected and thrown at once as
    /// `ConfigIssues`, each naming the file, line, field and what was expected.
    public static func load(path: String) throws(ConfigIssues) -> BoardFile {
        guard let text = readTextFile(path) else {
            throw ConfigIssues([ConfigIssue(file: path, field: "-", message: "cannot read the file (does it exist, and may this user read it?)")])
        }
        return try parse(text, path: path)
    }

    public static func parse(_ text: String, path: String) throws(ConfigIssues) -> BoardFile {
        let reader = NodeReader(file: path)
        let root: YAMLNode?
        do {
            root = try YAMLNode.parse(text)
        } catch {
            throw ConfigIssues([ConfigIssue(file: "\(path):\(error.mark.line)", field: "-", message: "not valid YAML: \(error.problem)")])
        }
        guard let root, let top = reader.mapping(root, "(top level)",
                                                  keys: ["board", "description", "device_id", "backend", "i2c", "gpio", "sampling", "simulation"]) else {
            throw ConfigIssues(reader.issues.isEmpty ? [ConfigIssue(file: path, field: "-", message: "the file is empty")] : reader.issues)
        }
        let name = reader.string(top["board"], "board", required: true) ?? ""
        let deviceID = reader.deviceID(top["device_id"], "device_id", required: true) ?? ""
        let backendText = reader.string(top["backend"], "backend", required: true)
        let backend = backendText.flatMap { text in
            Backend(rawValue: text) ?? {
                reader.issue(top["backend"], "backend", "'\(text)' is not a backend; expected linux or simulated")
                return nil
            }()
        }
        let buses = parseBuses(top["i2c"], reader, simulated: backend == .simulated, boardPath: path)
        let gpio = top["gpio"].flatMap { parseGPIO($0, reader) }
        let sampling = parseSampling(top["sampling"], reader)
        var simulation: Simulation?
        if backend == .simulated {
            simulation = parseSimulation(top["simulation"], reader, buses: buses, gpio: gpio)
        } else if top["simulation"] != nil, backend == .linux {
            reader.issue(top["simulation"], "simulation", "a linux board cannot have a simulation section; use backend: simulated")
        }
        if backend == .linux {
            for (i, bus) in buses.enumerated() where !bus.path.hasPrefix("/dev/i2c-") {
                reader.issue(nil, "i2c[\(i)].bus", "'\(bus.path)' is not an i2c-dev device; expected /dev/i2c-N")
            }
        }
        guard reader.issues.isEmpty, let backend else { throw ConfigIssues(reader.issues) }
        return BoardFile(path: path, name: name, description: reader.string(top["description"], "description"),
                         deviceID: deviceID, backend: backend, buses: buses, gpio: gpio, sampling: sampling,
                         simulation: simulation)
    }

    private static func parseBuses(_ node: YAMLNode?, _ r: NodeReader, simulated: Bool, boardPath: String) -> [Bus] {
        guard let node else {
            r.issue(nil, "i2c", "missing: list the I2C buses and their chips (an empty list [] is allowed)")
            return []
        }
        guard let items = r.sequence(node, "i2c") else { return [] }
        var names = Set<String>()
        var buses: [Bus] = []
        for (i, item) in items.enumerated() {
            let field = "i2c[\(i)]"
            guard let map = r.mapping(item, field, keys: ["bus", "chips"]) else { continue }
            let path = r.string(map["bus"], "\(field).bus", required: true) ?? ""
            var chips: [Chip] = []
            var addresses = Set<I2CAddress>()
            for (j, chipNode) in (map["chips"].flatMap { r.sequence($0, "\(field).chips") } ?? []).enumerated() {
                let cf = "\(field).chips[\(j)]"
                guard let c = r.mapping(chipNode, cf, keys: ["name", "chip", "address", "dump"]) else { continue }
                let chipName = r.string(c["name"], "\(cf).name", required: true)
                let kindText = r.string(c["chip"], "\(cf).chip", required: true)
                let kind = kindText.flatMap { text in
                    ChipCatalog.named(text) ?? {
                        r.issue(c["chip"], "\(cf).chip", "unknown chip '\(text)'; expected one of \(ChipCatalog.all.map(\.name).joined(separator: ", "))")
                        return nil
                    }()
                }
                let address = r.address(c["address"], "\(cf).address")
                if let address, let kind, !kind.addresses.contains(address) {
                    r.issue(c["address"], "\(cf).address", "\(kind.name) answers only at \(kind.addresses.map(\.description).joined(separator: " or ")), not \(address)")
                }
                if let address, !addresses.insert(address).inserted {
                    r.issue(c["address"], "\(cf).address", "\(address) is used twice on \(path)")
                }
                if let chipName, !names.insert(chipName).inserted {
                    r.issue(c["name"], "\(cf).name", "'\(chipName)' is used twice; chip names must be unique on a board")
                }
                var dump = r.string(c["dump"], "\(cf).dump")
                if let d = dump {
                    if !simulated {
                        r.issue(c["dump"], "\(cf).dump", "only simulated boards replay i2cdump files")
                    } else {
                        let resolved = d.hasPrefix("/") ? d : directory(of: boardPath) + "/" + d
                        if readTextFile(resolved) == nil {
                            r.issue(c["dump"], "\(cf).dump", "cannot read '\(resolved)'")
                        }
                        dump = resolved
                    }
                }
                if let chipName, let kind, let address {
                    chips.append(Chip(name: chipName, kind: kind, address: address, dump: dump))
                }
            }
            buses.append(Bus(path: path, chips: chips))
        }
        return buses
    }

    private static func parseGPIO(_ node: YAMLNode, _ r: NodeReader) -> GPIO? {
        guard let map = r.mapping(node, "gpio", keys: ["chip"] + LineRole.allCases.map(\.rawValue)) else { return nil }
        let chip = r.string(map["chip"], "gpio.chip", required: true) ?? ""
        var lines: [LineRole: GPIOLineConfig] = [:]
        var offsets: [Int: LineRole] = [:]
        for role in LineRole.allCases {
            guard let lineNode = map[role.rawValue] else { continue }
            let field = "gpio.\(role.rawValue)"
            guard let l = r.mapping(lineNode, field, keys: ["line", "active_low", "debounce"]) else { continue }
            guard let offset = r.int(l["line"], "\(field).line", required: true, range: 0...511) else { continue }
            if let other = offsets[offset] {
                r.issue(l["line"], "\(field).line", "line \(offset) is already the \(other.title)")
            }
            offsets[offset] = role
            let activeLow = r.bool(l["active_low"], "\(field).active_low") ?? false
            let debounce = r.duration(l["debounce"], "\(field).debounce", range: .zero ... .seconds(1)) ?? (role == .button ? .milliseconds(20) : .zero)
            if !role.isOutput || l["debounce"] == nil {
                lines[role] = GPIOLineConfig(offset: offset, activeLow: activeLow, debounce: debounce)
            } else {
                r.issue(l["debounce"], "\(field).debounce", "debounce applies to inputs only")
            }
        }
        return GPIO(chip: chip, lines: lines)
    }

    private static func parseSampling(_ node: YAMLNode?, _ r: NodeReader) -> Sampling {
        var sampling = Sampling()
        guard let node, let map = r.mapping(node, "sampling", keys: ["interval", "send_frequency"]) else { return sampling }
        if let d = r.duration(map["interval"], "sampling.interval", range: .milliseconds(100) ... .seconds(3600)) { sampling.interval = d }
        if let d = r.duration(map["send_frequency"], "sampling.send_frequency", range: .seconds(1) ... .seconds(86400)) { sampling.sendFrequency = d }
        if sampling.sendFrequency < sampling.interval {
            r.issue(map["send_frequency"], "sampling.send_frequency", "must not be shorter than sampling.interval (\(DurationText.format(sampling.interval)))")
        }
        return sampling
    }

    /// The channels a simulated world takes as `signals`: every environmental quantity. The
    /// acceleration and vibration channels come from the `vibration` profiles instead.
    static let signalChannels = Channel.allCases.filter { $0.unit != .standardGravity }

    private static func parseSimulation(_ node: YAMLNode?, _ r: NodeReader, buses: [Bus], gpio: GPIO?) -> Simulation {
        var simulation = Simulation(scenario: Scenario(seed: 1), faults: [], timeScale: 1)
        guard let node, let map = r.mapping(node, "simulation", keys: ["seed", "time_scale", "signals", "vibration", "faults", "clock_steps"]) else { return simulation }
        if let seed = r.int(map["seed"], "simulation.seed", range: 0...Int.max) { simulation.scenario.seed = UInt64(seed) }
        if let scale = r.double(map["time_scale"], "simulation.time_scale", range: 0...1_000_000) { simulation.timeScale = scale }
        if let signals = map["signals"].flatMap({ r.mapping($0, "simulation.signals", keys: Self.signalChannels.map(\.rawValue)) }) {
            for (key, value) in signals {
                guard let channel = Channel(rawValue: key) else { continue }
                if let signal = parseSignal(value, r, "simulation.signals.\(key)") { simulation.scenario.signals[channel] = signal }
            }
        }
        if let items = map["vibration"].flatMap({ r.sequence($0, "simulation.vibration") }) {
            for (i, item) in items.enumerated() {
                let field = "simulation.vibration[\(i)]"
                guard let v = r.mapping(item, field, keys: ["from", "profile"]) else { continue }
                let from = r.duration(v["from"], "\(field).from", required: true, range: .zero ... .seconds(86400 * 365))
                let profileText = r.string(v["profile"], "\(field).profile", required: true)
                let profile = profileText.flatMap { text in
                    VibrationProfile(rawValue: text) ?? {
                        r.issue(v["profile"], "\(field).profile", "unknown profile '\(text)'; expected \(VibrationProfile.allCases.map(\.rawValue).joined(separator: ", "))")
                        return nil
                    }()
                }
                if let from, let profile { simulation.scenario.vibration.append((from, profile)) }
            }
            simulation.scenario = Scenario(seed: simulation.scenario.seed, signals: simulation.scenario.signals,
                                           vibration: simulation.scenario.vibration)
        }
        let chipNames = Set(buses.flatMap { $0.chips.map(\.name) })
        for (i, item) in (map["faults"].flatMap { r.sequence($0, "simulation.faults") } ?? []).enumerated() {
            if let fault = parseFault(item, r, "simulation.faults[\(i)]", chipNames: chipNames, gpio: gpio) {
                simulation.faults.append(fault)
            }
        }
        for (i, item) in (map["clock_steps"].flatMap { r.sequence($0, "simulation.clock_steps") } ?? []).enumerated() {
            let field = "simulation.clock_steps[\(i)]"
            guard let step = r.mapping(item, field, keys: ["at", "by"]) else { continue }
            let at = r.duration(step["at"], "\(field).at", required: true, range: .zero ... .seconds(86400 * 365))
            let by = parseSignedDuration(step["by"], r, "\(field).by")
            if let at, let by { simulation.clockSteps.append(SimulatedWallClock.Step(at: at, by: by)) }
        }
        return simulation
    }

    /// A clock step's size: a duration, `-` in front for a step back (`-90s`, `2h`), not zero.
    private static func parseSignedDuration(_ node: YAMLNode?, _ r: NodeReader, _ field: String) -> Duration? {
        guard let text = r.string(node, field, required: true) else { return nil }
        let back = text.hasPrefix("-")
        let magnitude = back ? String(text.dropFirst()) : text
        guard let value = try? DurationText.parse(magnitude), value > .zero, value <= .seconds(86400 * 365) else {
            r.issue(node, field, "'\(text)' is not a clock step; write a duration, with '-' for a step back: 90s, -2h (not zero, at most a year)")
            return nil
        }
        return back ? .zero - value : value
    }

    private static func parseSignal(_ node: YAMLNode, _ r: NodeReader, _ field: String) -> Signal? {
        guard let s = r.mapping(node, field, keys: ["baseline", "noise", "drift_per_hour", "events"]) else { return nil }
        guard let baseline = r.double(s["baseline"], "\(field).baseline", required: true, range: -1e7...1e7) else { return nil }
        var signal = Signal(baseline: baseline,
                            noise: r.double(s["noise"], "\(field).noise", range: 0...1e6) ?? 0,
                            driftPerHour: r.double(s["drift_per_hour"], "\(field).drift_per_hour", range: -1e6...1e6) ?? 0)
        for (i, item) in (s["events"].flatMap { r.sequence($0, "\(field).events") } ?? []).enumerated() {
            let ef = "\(field).events[\(i)]"
            guard let e = r.mapping(item, ef, keys: ["kind", "at", "duration", "magnitude"]) else { continue }
            let kindText = r.string(e["kind"], "\(ef).kind", required: true)
            let kind = kindText.flatMap { text in
                Signal.EventKind(rawValue: text) ?? {
                    r.issue(e["kind"], "\(ef).kind", "unknown event '\(text)'; expected spike, dip or step")
                    return nil
                }()
            }
            let at = r.duration(e["at"], "\(ef).at", required: true, range: .zero ... .seconds(86400 * 365))
            let duration = r.duration(e["duration"], "\(ef).duration", range: .milliseconds(1) ... .seconds(86400)) ?? .seconds(10)
            let magnitude = r.double(e["magnitude"], "\(ef).magnitude", required: true, range: 0...1e7)
            if let kind, let at, let magnitude {
                signal.events.append(Signal.Event(kind, at: at, duration: duration, magnitude: magnitude))
            }
        }
        return signal
    }

    private static let faultKinds = ["absent", "intermittent_nack", "crc_corruption", "stuck", "timeout", "chip_reset", "unplug", "line_busy"]

    private static func parseFault(_ node: YAMLNode, _ r: NodeReader, _ field: String, chipNames: Set<String>, gpio: GPIO?) -> PlantedFault? {
        guard let f = r.mapping(node, field, keys: ["chip", "line", "kind", "rate", "at", "until", "byte", "consumer"]) else { return nil }
        guard let kind = r.string(f["kind"], "\(field).kind", required: true) else { return nil }
        guard faultKinds.contains(kind) else {
            r.issue(f["kind"], "\(field).kind", "unknown fault '\(kind)'; expected one of \(faultKinds.joined(separator: ", "))")
            return nil
        }
        if kind == "line_busy" {
            let roleText = r.string(f["line"], "\(field).line", required: true)
            guard let roleText else { return nil }
            guard let role = LineRole(rawValue: roleText), gpio?.lines[role] != nil else {
                r.issue(f["line"], "\(field).line", "'\(roleText)' is not a line in the gpio section")
                return nil
            }
            return .lineBusy(role, consumer: r.string(f["consumer"], "\(field).consumer") ?? "another-program")
        }
        guard let chip = r.string(f["chip"], "\(field).chip", required: true) else { return nil }
        guard chipNames.contains(chip) else {
            r.issue(f["chip"], "\(field).chip", "no chip named '\(chip)' on this board; names are \(chipNames.sorted().joined(separator: ", "))")
            return nil
        }
        let from = r.duration(f["at"], "\(field).at", required: kind == "chip_reset" || kind == "unplug", range: .zero ... .seconds(86400 * 365)) ?? .zero
        let until = r.duration(f["until"], "\(field).until", range: .zero ... .seconds(86400 * 365))
        if let until, until <= from {
            r.issue(f["until"], "\(field).until", "must come after 'at' (\(DurationText.format(from)))")
        }
        let rate = { r.double(f["rate"], "\(field).rate", required: true, range: 0...1) }
        let faultKind: Fault.Kind?
        switch kind {
        case "absent": faultKind = .addressNACK
        case "intermittent_nack": faultKind = rate().map { .intermittentNACK(rate: $0) }
        case "crc_corruption": faultKind = rate().map { .crcCorruption(rate: $0) }
        case "stuck": faultKind = .stuckAt(r.int(f["byte"], "\(field).byte", range: 0...255).map { UInt8($0) })
        case "timeout": faultKind = .timeout
        case "chip_reset": faultKind = .chipReset
        default: faultKind = .unplug
        }
        return faultKind.map { .bus(chip: chip, $0, from: from, until: until) }
    }
}

extension NodeReader {
    func address(_ node: YAMLNode?, _ field: String) -> I2CAddress? {
        guard let value = int(node, field, required: true, range: 0...0x7F) else { return nil }
        guard (0x08...0x77).contains(value), let address = I2CAddress(checking: value) else {
            issue(node, field, "0x\(String(value, radix: 16)) is a reserved I2C address; sensors use 0x08…0x77")
            return nil
        }
        return address
    }
}

/// The whole file as UTF-8 text, or nil when it cannot be read.
func readTextFile(_ path: String) -> String? {
    guard let file = fopen(path, "rb") else { return nil }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&buffer, 1, buffer.count, file)
        if n > 0 { bytes.append(contentsOf: buffer[0..<n]) }
        if n < buffer.count { break }
    }
    return String(decoding: bytes, as: UTF8.self)
}

func directory(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return String(path[..<slash])
}

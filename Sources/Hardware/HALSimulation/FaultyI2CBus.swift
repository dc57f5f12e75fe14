import HAL
import Synchronization

/// The fault layer: a bus that passes transactions to a simulated bus unless a planted ``Fault``
/// says otherwise (Zephyr `i2c_emul.h`'s mock API that takes precedence, with fallthrough).
public final class FaultyI2CBus: I2CBus {
    public var name: String { base.name }
    public let base: SimulatedI2CBus
    private let clock: any HALClock

    private struct State {
        var faults: [Fault]
        var rng: SplitMix64
        /// `stuckAt(nil)`: first answer per (address, request) after the fault began.
        var frozen: [String: [[UInt8]]] = [:]
        /// Faults whose one-off effect (chip reset, replug) has happened.
        var fired: Set<Int> = []
        /// Chips taken off the bus by `unplug`, to put back.
        var unplugged: [I2CAddress: any SimulatedI2CDevice] = [:]
        var injected: [String: Int] = [:]
    }
    private let state: Mutex<State>

    public init(base: SimulatedI2CBus, faults: [Fault], clock: any HALClock, seed: UInt64) {
        self.base = base
        self.clock = clock
        state = Mutex(State(faults: faults, rng: SplitMix64(seed: seed)))
    }

    public func plant(_ fault: Fault) {
        state.withLock { $0.faults.append(fault) }
    }

    /// How many times each fault kind changed a transaction, for tests and the demo.
    public var injectedCounts: [String: Int] { state.withLock { $0.injected } }

    public func transaction(_ address: I2CAddress, _ operations: [I2COperation]) throws(I2CError) -> [[UInt8]] {
        let now = clock.now
        // A fault that fails the whole transaction, decided before the chip sees anything.
        let (injected, faulted): (I2CError?, Bool) = state.withLock { state in
            applyTimedEffects(&state, now: now)
            var faulted = false
            for fault in state.faults where fault.address == address && fault.isActive(at: now) {
                faulted = true
                let kind: I2CError.Kind
                switch fault.kind {
                case .addressNACK: kind = .noAcknowledge(.address)
                case .timeout: kind = .timeout
                case .intermittentNACK(let rate) where state.rng.unit() < rate: kind = .noAcknowledge(.address)
                default: continue
                }
                state.injected["\(fault.kind)", default: 0] += 1
                return (I2CError(kind, bus: base.name, address: address, operation: operations.summary,
                                 detail: "injected fault: \(fault.kind)"), true)
            }
            return (nil, faulted)
        }
        if let injected { throw injected }

        var reads = try base.transaction(address, operations)
        // No fault active for this address: nothing to change in the answer (the common case).
        guard faulted else { return reads }
        state.withLock { state in
            for fault in state.faults where fault.address == address && fault.isActive(at: now) {
                switch fault.kind {
                case .crcCorruption(let rate):
                    for i in reads.indices where !reads[i].isEmpty && state.rng.unit() < rate {
                        reads[i][reads[i].count - 1] ^= 0x01
                        state.injected["\(fault.kind)", default: 0] += 1
                    }
                case .stuckAt(let byte?):
                    reads = reads.map { Array(repeating: byte, count: $0.count) }
                case .stuckAt(nil):
                    let key = "\(address) \(operations.summary)"
                    if let frozen = state.frozen[key] { reads = frozen } else { state.frozen[key] = reads }
                default: continue
                }
            }
        }
        return reads
    }

    /// Chip resets, unplugs and replugs happen when the clock passes their times, whoever asks.
    private func applyTimedEffects(_ state: inout State, now: Duration) {
        for (index, fault) in state.faults.enumerated() {
            switch fault.kind {
            case .chipReset where now >= fault.from && !state.fired.contains(index):
                state.fired.insert(index)
                (base.device(at: fault.address) as? any ChipModel)?.powerOnReset()
            case .unplug where fault.isActive(at: now) && state.unplugged[fault.address] == nil && !state.fired.contains(index):
                if let device = base.detach(fault.address) { state.unplugged[fault.address] = device }
            case .unplug where fault.until.map { now >= $0 } ?? false && !state.fired.contains(index):
                state.fired.insert(index)
                if let device = state.unplugged.removeValue(forKey: fault.address) {
                    (device as? any ChipModel)?.powerOnReset()
                    base.attach(device, at: fault.address)
                } else if let until = fault.until, fault.from < until {
                    // Nobody asked while it was out, but it was unplugged all the same: it lost power.
                    (base.device(at: fault.address) as? any ChipModel)?.powerOnReset()
                }
            default: continue
            }
        }
    }
}

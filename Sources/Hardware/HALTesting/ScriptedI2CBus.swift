import HAL
import Synchronization

/// A bus that expects an exact script of transactions and answers from it (after
/// embedded-hal-mock's `I2cMock`). Use it to pin down the bytes a driver sends: every test ends
/// with `done()`, which reports expectations that were never consumed.
///
/// ```swift
/// let bus = ScriptedI2CBus([
///     .init(0x76, [.write([0xD0]), .read(count: 1)], returns: [[0x60]]),
///     .init(0x76, [.write([0xE0, 0xB6])]),
///     .init(0x76, [.write([0xF3]), .read(count: 1)], fails: .noAcknowledge(.address)),
/// ])
/// ```
public final class ScriptedI2CBus: I2CBus {
    public struct Expectation: Sendable, CustomStringConvertible {
        public var address: I2CAddress
        public var operations: [I2COperation]
        public var result: Result<[[UInt8]], I2CError>

        public init(_ address: UInt8, _ operations: [I2COperation], returns reads: [[UInt8]] = []) {
            self.address = I2CAddress(address)
            self.operations = operations
            self.result = .success(reads)
        }

        public init(_ address: UInt8, _ operations: [I2COperation], fails kind: I2CError.Kind) {
            self.address = I2CAddress(address)
            self.operations = operations
            self.result = .failure(I2CError(kind, bus: "scripted", address: I2CAddress(address), operation: operations.summary))
        }

        public var description: String { "\(address) \(operations.summary)" }
    }

    public let name = "scripted"
    private let state: Mutex<(remaining: [Expectation], mismatches: [String])>

    public init(_ script: [Expectation]) {
        state = Mutex((script, []))
    }

    public func transaction(_ address: I2CAddress, _ operations: [I2COperation]) throws(I2CError) -> [[UInt8]] {
        let result: Result<[[UInt8]], I2CError> = state.withLock { state in
            let actual = "\(address) \(operations.summary)"
            guard !state.remaining.isEmpty else {
                state.mismatches.append("unexpected transaction after the script ended: \(actual)")
                return .failure(I2CError(.other, bus: name, address: address, operation: operations.summary, detail: "not in script"))
            }
            let next = state.remaining.removeFirst()
            guard next.address == address, next.operations == operations else {
                state.mismatches.append("expected \(next), got \(actual)")
                return .failure(I2CError(.other, bus: name, address: address, operation: operations.summary, detail: "script mismatch"))
            }
            if case .success(let reads) = next.result {
                let asked = operations.compactMap { op -> Int? in if case .read(let n) = op { n } else { nil } }
                if asked != reads.map(\.count) {
                    state.mismatches.append("script for \(actual) returns \(reads.map(\.count)) bytes, driver asked \(asked)")
                }
            }
            return next.result
        }
        return try result.get()
    }

    /// Problems found so far plus expectations never consumed; empty when the driver did exactly what the script says.
    public func done() -> [String] {
        state.withLock { state in
            state.mismatches + state.remaining.map { "expected but never sent: \($0)" }
        }
    }
}

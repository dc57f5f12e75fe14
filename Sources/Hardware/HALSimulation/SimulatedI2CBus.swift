import HAL
import Synchronization

/// A simulated I2C controller: routes each transaction to the device at its address and NACKs
/// addresses with no device, as a real bus does (Zephyr `i2c_emul.c`).
public final class SimulatedI2CBus: I2CBus {
    public let name: String
    /// By 7-bit address: a FIFO drain is one transaction per entry, and an array slot costs no
    /// hashing. Its lock also serializes transactions, as the kernel's adapter lock does.
    private let devices = Mutex<[(any SimulatedI2CDevice)?]>(Array(repeating: nil, count: 0x80))

    public init(name: String) {
        self.name = name
    }

    public func attach(_ device: any SimulatedI2CDevice, at address: I2CAddress) {
        devices.withLock { $0[Int(address.rawValue)] = device }
    }

    /// Unplugs the device at `address` and returns it (for a later replug).
    @discardableResult
    public func detach(_ address: I2CAddress) -> (any SimulatedI2CDevice)? {
        devices.withLock { devices in
            defer { devices[Int(address.rawValue)] = nil }
            return devices[Int(address.rawValue)]
        }
    }

    public func device(at address: I2CAddress) -> (any SimulatedI2CDevice)? {
        devices.withLock { $0[Int(address.rawValue)] }
    }

    public var addresses: [I2CAddress] {
        devices.withLock { devices in
            devices.indices.compactMap { devices[$0] == nil ? nil : I2CAddress(UInt8($0)) }
        }
    }

    public func transaction(_ address: I2CAddress, _ operations: [I2COperation]) throws(I2CError) -> [[UInt8]] {
        let result: Result<[[UInt8]], I2CError> = devices.withLock { devices in
            guard let device = devices[Int(address.rawValue)] else {
                return .failure(I2CError(.noAcknowledge(.address), bus: name, address: address,
                                         operation: operations.summary))
            }
            defer { device.stop() }
            var reads: [[UInt8]] = []
            reads.reserveCapacity(operations.count)
            do throws(I2CError) {
                for operation in operations {
                    switch operation {
                    case .write(let bytes): try device.write(bytes)
                    case .read(let count): reads.append(try device.read(count: count))
                    }
                }
            } catch {
                var error = error
                error.bus = name
                error.address = address
                error.operation = operations.summary
                return .failure(error)
            }
            return .success(reads)
        }
        return try result.get()
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SystemCalls

/// A descriptor other threads signal to end a wait early: the read end of a non-blocking pipe,
/// polled beside a connection's socket by ``TLSConnection/wait(timeout:wakeUp:)``, or alone by
/// ``wait(timeout:)``.
///
/// ## Contract
/// - ``signal()`` never blocks and may be called from any thread, any number of times: signals
///   that arrive before a wait collapse into one, and none is lost (the pipe stays readable
///   until a wait drains it).
/// - A wait that returns because of a signal consumes it.
public final class WakeUpSignal: Sendable {
    let readFD: Int32
    let writeFD: Int32

    /// - Throws: ``TransportError/system(operation:peer:errno:reason:)`` when no descriptor is left.
    public init() throws(TransportError) {
        do {
            (readFD, writeFD) = try POSIX.pipe()
        } catch {
            throw .system(error, peer: "wake-up pipe")
        }
    }

    deinit {
        POSIX.close(readFD)
        POSIX.close(writeFD)
    }

    /// Ends the current wait, or the next one when none is in progress.
    public func signal() {
        var byte: UInt8 = 1
        // EAGAIN: the pipe is full of earlier signals, so a wait will return anyway.
        _ = try? POSIX.call("write") { write(writeFD, &byte, 1) }
    }

    /// Blocks until signalled or `timeout` passes (nil: no limit); true when signalled.
    @discardableResult
    public func wait(timeout: Duration?) -> Bool {
        var entries = [pollfd(fd: readFD, events: POSIX.readable, revents: 0)]
        guard (try? POSIX.poll(&entries, milliseconds: POSIX.milliseconds(timeout))) ?? 0 > 0 else { return false }
        drain()
        return true
    }

    /// Empties the pipe (after `poll` reported it readable).
    func drain() {
        var bytes = [UInt8](repeating: 0, count: 64)
        while (try? bytes.withUnsafeMutableBytes { try POSIX.read(readFD, into: $0) }) ?? 0 > 0 {}
    }
}

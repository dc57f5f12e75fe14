import Synchronization

/// A callback that one thread sets (or clears) and others call: an observer, a wake-up.
///
/// Why not `Mutex<(@Sendable () -> Void)?>` read with `withLock { $0 }`: Swift (6.3) stores a
/// closure in the generic `Mutex` at the most general abstraction and reaches it through the
/// body's `inout`, so every such read converts it, and writes back, a closure wrapped in one more
/// reabstraction thunk. Each read then leaks 32 bytes and makes the next call one level deeper,
/// until, after about a million reads, the call overflows the stack (the agent did this once per
/// message: `CallbackSlotTests` shows both). A class box is read by reference and never rewritten.
public final class CallbackSlot<Argument>: Sendable {
    private final class Box: Sendable {
        let call: @Sendable (Argument) -> Void
        init(_ call: @escaping @Sendable (Argument) -> Void) { self.call = call }
    }

    private let box = Mutex<Box?>(nil)

    public init() {}

    /// Sets the callback (nil clears it).
    public func set(_ callback: (@Sendable (Argument) -> Void)?) {
        let new = callback.map(Box.init)
        box.withLock { $0 = new }
    }

    public var isSet: Bool { box.withLock { $0 != nil } }

    /// Calls the callback, if one is set, outside the lock.
    public func callAsFunction(_ argument: Argument) {
        let current = box.withLock { $0 }
        current?.call(argument)
    }
}

extension CallbackSlot where Argument == Void {
    public func callAsFunction() { self(()) }
}

import SystemCalls

/// Names in `/dev` that start with `prefix`, sorted by their trailing number (`i2c-2` before
/// `i2c-10`). An unreadable `/dev` gives an empty list: the callers only use it to say what exists.
func deviceNodes(prefix: String) -> [String] {
    let names = (try? POSIX.listDirectory("/dev")) ?? []
    return names.filter { $0.hasPrefix(prefix) }.sorted { trailingNumber($0) ?? .max < trailingNumber($1) ?? .max }
}

/// The number at the end of `i2c-10` or `gpiochip3`.
func trailingNumber(_ name: String) -> Int? {
    let digits = name.reversed().prefix { $0.isNumber }
    return digits.isEmpty ? nil : Int(String(digits.reversed()))
}

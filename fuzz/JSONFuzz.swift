// libFuzzer harness for the project's JSON parser (twin documents, method payloads, C2D bodies,
// predictor frames, configuration). Compiled with Sources/Common/JSON into one module by
// scripts/fuzz.sh.
//
// Properties checked (a violation traps, which libFuzzer reports as a crash):
// 1. `parse` and `parseTolerating` never crash, whatever the bytes.
// 2. Whatever `parse` accepts, `parseTolerating` accepts as the same value with nothing undecodable;
//    whatever `parseTolerating` refuses, `parse` refuses.
// 3. An accepted value (strict or tolerant) is written, sorted or in stored order, into text that
//    parses back to the same value, and writing is stable (write ∘ parse ∘ write = write).

@_cdecl("LLVMFuzzerTestOneInput")
public func jsonFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let strict = try? JSONValue.parse(bytes)
    let tolerant = try? JSONValue.parseTolerating(bytes)

    if let strict {
        guard let tolerant, tolerant.value == strict, tolerant.undecodable.isEmpty else {
            fatalError("parse gave \(strict), parseTolerating gave \(String(describing: tolerant))")
        }
    }
    if let value = tolerant?.value {
        if tolerant?.undecodable.isEmpty == false, strict != nil {
            fatalError("parse accepted text parseTolerating found undecodable values in")
        }
        roundTrip(value, sortingKeys: true)
        roundTrip(value, sortingKeys: false)
    }
    return 0
}

private func roundTrip(_ value: JSONValue, sortingKeys: Bool) {
    let text = value.encoded(sortingKeys: sortingKeys)
    let again: JSONValue
    do {
        again = try JSONValue.parse(text)
    } catch {
        fatalError("\(value) was written as \(String(decoding: text, as: UTF8.self)), which does not parse: \(error)")
    }
    guard again == value else {
        fatalError("\(value) was written as \(String(decoding: text, as: UTF8.self)) and read back as \(again)")
    }
    guard again.encoded(sortingKeys: sortingKeys) == text else {
        fatalError("writing \(value) is not stable: \(String(decoding: text, as: UTF8.self))")
    }
}

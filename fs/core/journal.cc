#include "fs/core/journal.h"

#include "common/crc32c.h"

namespace cairn::fs {

void append_record(const JournalEntry& entry, std::string* out) {
  std::string payload;
  Encoder p(&payload);
  p.u64(entry.seq);
  p.u32(static_cast<uint32_t>(entry.updates.size()));
  for (const Update& u : entry.updates) u.encode(p);
  p.u64(entry.session);
  p.u64(entry.tid);
  p.bytes(entry.reply);
  Encoder e(out);
  e.u32(static_cast<uint32_t>(payload.size()));
  e.u32(crc32c(payload));
  e.raw(payload);
}

std::vector<JournalEntry> decode_records(std::string_view segment, bool* clean) {
  std::vector<JournalEntry> entries;
  *clean = true;
  size_t pos = 0;
  while (pos < segment.size()) {
    if (segment.size() - pos < 8) {
      *clean = false;
      break;
    }
    Decoder h(segment.substr(pos, 8));
    uint32_t len = h.u32();
    uint32_t crc = h.u32();
    if (len > segment.size() - pos - 8) {
      *clean = false;
      break;
    }
    std::string_view payload = segment.substr(pos + 8, len);
    if (crc32c(payload) != crc) {
      *clean = false;
      break;
    }
    Decoder d(payload);
    JournalEntry entry;
    entry.seq = d.u64();
    for (uint32_t n = d.count(); n > 0 && d.ok(); --n) entry.updates.push_back(Update::decode(d));
    entry.session = d.u64();
    entry.tid = d.u64();
    entry.reply = d.bytes();
    if (!d.done()) {
      *clean = false;
      break;
    }
    entries.push_back(std::move(entry));
    pos += 8 + len;
  }
  return entries;
}

}  // namespace cairn::fs

// Just enough XML for S3: a writer for responses and a small, strict parser
// for the request bodies S3 defines (CompleteMultipartUpload, Delete,
// CreateBucketConfiguration, VersioningConfiguration). No DTDs, no entities
// beyond the five predefined ones and numeric references, bounded depth.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cairn::rgw {

std::string xml_escape(std::string_view s);

// Builds a document: XmlWriter w("ListBucketResult"); w.elem("Name", "b");
// w.open("Contents"); ...; w.close(); std::string doc = w.finish();
class XmlWriter {
 public:
  // Starts the document with the XML declaration and the S3 namespace.
  explicit XmlWriter(std::string_view root, bool s3_namespace = true);
  void open(std::string_view name);
  void close();
  void elem(std::string_view name, std::string_view text);
  void elem(std::string_view name, uint64_t v) { elem(name, std::to_string(v)); }
  void elem_bool(std::string_view name, bool v) { elem(name, v ? "true" : "false"); }
  // Closes every open element and returns the text.
  std::string finish();

 private:
  std::string out_;
  std::vector<std::string> stack_;
};

struct XmlNode {
  std::string name;  // local name (namespace prefix stripped)
  std::string text;  // concatenated character data directly inside
  std::vector<XmlNode> children;

  const XmlNode* child(std::string_view n) const;
  std::vector<const XmlNode*> children_named(std::string_view n) const;
  // Text of the first child called n, or "" if absent.
  std::string child_text(std::string_view n) const;
};

// Parses a whole document; nullopt if it is not well-formed (or deeper than
// 32 levels or more than 100,000 elements).
std::optional<XmlNode> parse_xml(std::string_view doc);

}  // namespace cairn::rgw

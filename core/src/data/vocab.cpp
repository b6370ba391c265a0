#include "loom/vocab.hpp"

#include <fstream>
#include <sstream>

#include "loom/errors.hpp"
#include "loom/files.hpp"
#include "loom/parameters.hpp"

namespace loom {

const char* special_name(Special role) {
  static const char* names[] = {"pad", "unk", "bos", "eos", "sep"};
  return names[static_cast<int>(role)];
}

std::int32_t Vocab::add(const std::string& token) {
  auto it = ids_.find(token);
  if (it != ids_.end()) return it->second;
  auto id = static_cast<std::int32_t>(tokens_.size());
  tokens_.push_back(token);
  counts_.push_back(0);
  ids_.emplace(token, id);
  return id;
}

void Vocab::set_special(Special role, const std::string& token) {
  specials_[static_cast<int>(role)] = add(token);
}

bool Vocab::contains(std::string_view token) const { return ids_.find(token) != ids_.end(); }

std::string ascii_lower(std::string_view token) {
  std::string s(token);
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

std::int32_t Vocab::find(std::string_view token) const {
  auto it = ids_.find(token);
  // Special tokens keep their spelling ("<UNK>"), so an exact match comes first.
  if (lowercase_ && it == ids_.end()) it = ids_.find(ascii_lower(token));
  return it == ids_.end() ? kNone : it->second;
}

std::int32_t Vocab::id(std::string_view token) const {
  std::int32_t found = find(token);
  return found == kNone ? unk_id() : found;
}

const std::string& Vocab::token(std::int32_t id) const {
  LOOM_ASSERT(id >= 0 && static_cast<std::size_t>(id) < tokens_.size(),
              "token id " + std::to_string(id) + " outside the vocabulary");
  return tokens_[static_cast<std::size_t>(id)];
}

void Vocab::save(const std::filesystem::path& path) const { write_file_atomically(path, to_text()); }

std::string Vocab::to_text() const {
  std::string out = "#loom-vocab 1";
  for (int r = 0; r < kSpecialRoles; ++r)
    if (specials_[r] != kNone)
      out += std::string(" ") + special_name(static_cast<Special>(r)) + "=" + std::to_string(specials_[r]);
  if (lowercase_) out += " lowercase=1";
  out += "\n";
  for (std::size_t i = 0; i < tokens_.size(); ++i)
    out += tokens_[i] + "\t" + std::to_string(counts_[i]) + "\n";
  return out;
}

Vocab Vocab::load(const std::filesystem::path& path) {
  return parse(read_file(path, "vocabulary file"), path.string());
}

Vocab Vocab::parse(const std::string& text, const std::string& origin) {
  std::istringstream in(text);
  std::string line;
  auto fail = [&](int line_no, const std::string& what) {
    throw InputError(origin + ":" + std::to_string(line_no) + ": " + what);
  };
  if (!std::getline(in, line) || line.rfind("#loom-vocab 1", 0) != 0)
    fail(1, "not a loom vocabulary file (expected a '#loom-vocab 1' header)");
  Vocab v;
  std::vector<std::pair<Special, std::int32_t>> roles;
  std::istringstream header(line.substr(13));
  std::string field;
  while (header >> field) {
    auto eq = field.find('=');
    if (eq == std::string::npos) fail(1, "bad header field '" + field + "'");
    std::string name = field.substr(0, eq);
    if (name == "lowercase") {
      v.lowercase_ = field.substr(eq + 1) == "1";
      continue;
    }
    int role = -1;
    for (int r = 0; r < kSpecialRoles; ++r)
      if (name == special_name(static_cast<Special>(r))) role = r;
    if (role < 0) fail(1, "unknown special role '" + name + "'");
    try {
      roles.emplace_back(static_cast<Special>(role), std::stoi(field.substr(eq + 1)));
    } catch (const std::exception&) {
      fail(1, "bad id in header field '" + field + "'");
    }
  }
  int line_no = 1;
  while (std::getline(in, line)) {
    ++line_no;
    auto tab = line.find('\t');
    std::string token = line.substr(0, tab);
    if (token.empty()) fail(line_no, "empty token");
    if (v.contains(token)) fail(line_no, "duplicate token '" + token + "'");
    std::int32_t id = v.add(token);
    if (tab != std::string::npos) {
      try {
        v.set_count(id, std::stoll(line.substr(tab + 1)));
      } catch (const std::exception&) {
        fail(line_no, "bad count '" + line.substr(tab + 1) + "'");
      }
    }
  }
  for (auto [role, id] : roles) {
    if (id < 0 || static_cast<std::size_t>(id) >= v.size())
      fail(1, std::string(special_name(role)) + " id " + std::to_string(id) + " outside the file");
    v.specials_[static_cast<int>(role)] = id;
  }
  return v;
}

}  // namespace loom

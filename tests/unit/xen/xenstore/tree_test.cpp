// Paths, permissions and node operations against the committed tree.
#include <catch2/catch.hpp>

#include <cerrno>
#include <cstdint>
#include <xen/io/xs_wire.h>

#include "xen/xenstore/node_ops.hpp"
#include "xen/xenstore/path.hpp"
#include "xen/xenstore/perms.hpp"
#include "xen/xenstore/tree.hpp"

using namespace kxen::xenstore;

namespace {

const Quota kQuota{};
const Caller kDom0{0, true, &kQuota};
const Caller kGuest{1, false, &kQuota};

NodePerms perms(std::initializer_list<std::string_view> s) { return *parse_perms(s); }

// A tree with /local/domain/1 readable by domain 1, and data/ writable by it (as xl makes them).
Tree domain_tree() {
  Tree tree;
  Changes ch;
  REQUIRE(write_node(tree, kDom0, "/local/domain/1", "", ch));
  REQUIRE(set_node_perms(tree, kDom0, "/local/domain/1", perms({"n0", "r1"}), ch));
  REQUIRE(write_node(tree, kDom0, "/local/domain/1/data", "", ch));
  REQUIRE(set_node_perms(tree, kDom0, "/local/domain/1/data", perms({"n1"}), ch));
  return tree;
}

}  // namespace

TEST_CASE("xenstore paths are validated and made absolute", "[xenstore]") {
  CHECK(canonical_path("device/vbd", 1, false) == "/local/domain/1/device/vbd");
  CHECK(canonical_path("/local/domain/0", 1, false) == "/local/domain/0");
  CHECK(canonical_path("/", 1, false) == "/");
  CHECK(canonical_path("@releaseDomain", 1, true) == "@releaseDomain");
  CHECK(canonical_path("@releaseDomain", 1, false).error() == EINVAL);
  for (std::string_view bad : {"", "/a/", "/a//b", "a b", "/a\n", "/a.b", "/a:b"})
    CHECK(canonical_path(bad, 1, false).error() == EINVAL);
  CHECK(canonical_path(std::string(XENSTORE_REL_PATH_MAX + 1, 'a'), 1, false).error() == EINVAL);
  CHECK(canonical_path("/" + std::string(XENSTORE_ABS_PATH_MAX, 'a'), 0, false).error() == EINVAL);
  CHECK(canonical_path(std::string(100, 'a'), 1, false).has_value());
}

TEST_CASE("xenstore path relations", "[xenstore]") {
  CHECK(parent_of("/a/b") == "/a");
  CHECK(parent_of("/a") == "/");
  CHECK(basename_of("/a/bc") == "bc");
  CHECK(is_child_or_self("/a/b", "/a"));
  CHECK(is_child_or_self("/a", "/a"));
  CHECK_FALSE(is_child_or_self("/ab", "/a"));
  CHECK(is_child_or_self("/x", "/"));
  CHECK_FALSE(is_child_or_self("@releaseDomain", "/"));
  CHECK(path_depth("/") == 0);
  CHECK(path_depth("/local/domain/1") == 3);
}

TEST_CASE("xenstore perm strings parse, format and grant access", "[xenstore]") {
  auto p = perms({"n0", "r1", "w2", "b3"});
  CHECK(format_perms(p) == std::vector<std::string>{"n0", "r1", "w2", "b3"});
  CHECK(access_for(p, 1, false) == kAccessRead);
  CHECK(access_for(p, 2, false) == kAccessWrite);
  CHECK(access_for(p, 3, false) == (kAccessRead | kAccessWrite));
  CHECK(access_for(p, 4, false) == kAccessNone);
  CHECK(access_for(p, 0, false) == (kAccessRead | kAccessWrite | kAccessOwner));
  CHECK(access_for(p, 7, true) == (kAccessRead | kAccessWrite | kAccessOwner));
  for (std::string_view bad : {"x1", "r", "r-1", "r65536", "r1x", ""})
    CHECK(parse_perms({bad}).error() == EINVAL);
  CHECK(parse_perms(std::span<const std::string_view>{}).error() == EINVAL);
}

TEST_CASE("xenstore write creates parents, read and rm work", "[xenstore]") {
  Tree tree;
  Changes ch;
  REQUIRE(write_node(tree, kDom0, "/a/b/c", "v", ch));
  CHECK(tree.find("/a/b/c")->value == "v");
  CHECK(tree.find("/a/b")->children == std::vector<std::string>{"c"});
  CHECK(tree.find("/")->children.back() == "a");
  REQUIRE(ch.size() == 1);
  CHECK(ch[0].path == "/a/b/c");
  const auto gen = tree.generation_of("/a/b");
  REQUIRE(make_node(tree, kDom0, "/a/b", ch));  // exists: untouched
  CHECK(tree.generation_of("/a/b") == gen);
  ch.clear();
  REQUIRE(remove_node(tree, kDom0, "/a", ch));
  CHECK(tree.find("/a/b/c") == nullptr);
  CHECK(tree.find("/a") == nullptr);
  REQUIRE(ch.size() == 3);
  CHECK((ch[0].path == "/a/b/c" && ch[0].exact));
  CHECK((ch[2].path == "/a" && !ch[2].exact));
  CHECK(remove_node(tree, kDom0, "/a", ch));            // missing, parent exists: fine
  CHECK(remove_node(tree, kDom0, "/a/b", ch).error() == ENOENT);
  CHECK(remove_node(tree, kDom0, "/", ch).error() == EINVAL);
  CHECK(write_node(tree, kDom0, "@releaseDomain", "x", ch).error() == EINVAL);
}

TEST_CASE("xenstore guest access follows node perms", "[xenstore]") {
  Tree tree = domain_tree();
  Changes ch;
  CHECK(get_node(tree, kGuest, "/local/domain/1", kAccessRead).has_value());
  CHECK(get_node(tree, kGuest, "/local/domain/1", kAccessWrite).error() == EACCES);
  CHECK(get_node(tree, kGuest, "/local/domain/1/missing", kAccessRead).error() == ENOENT);
  CHECK(get_node(tree, kGuest, "/tool/missing", kAccessRead).error() == EACCES);  // hidden parent
  CHECK(write_node(tree, kGuest, "/local/domain/1/name", "x", ch).error() == EACCES);
  CHECK(write_node(tree, kGuest, "/local/domain/0/x", "x", ch).error() == EACCES);
  REQUIRE(write_node(tree, kGuest, "/local/domain/1/data/k", "v", ch));
  CHECK(tree.find("/local/domain/1/data/k")->perms == perms({"n1"}));  // inherited, guest owns it
}

TEST_CASE("xenstore new nodes inherit perms with the guest as owner", "[xenstore]") {
  Tree tree = domain_tree();
  Changes ch;
  REQUIRE(set_node_perms(tree, kDom0, "/local/domain/1/data", perms({"n0", "b1", "r2"}), ch));
  REQUIRE(write_node(tree, kGuest, "/local/domain/1/data/x/y", "v", ch));
  CHECK(tree.find("/local/domain/1/data/x")->perms == perms({"n1", "b1", "r2"}));
  REQUIRE(write_node(tree, kDom0, "/local/domain/1/data/z", "v", ch));
  CHECK(tree.find("/local/domain/1/data/z")->perms.owner() == 0);  // dom0 keeps the parent's owner
}

TEST_CASE("xenstore set_perms needs ownership and keeps the owner for guests", "[xenstore]") {
  Tree tree = domain_tree();
  Changes ch;
  REQUIRE(write_node(tree, kGuest, "/local/domain/1/data/k", "v", ch));
  CHECK(set_node_perms(tree, kGuest, "/local/domain/1/data/k", perms({"n2"}), ch).error() == EPERM);
  REQUIRE(set_node_perms(tree, kGuest, "/local/domain/1/data/k", perms({"n1", "r0", "r5"}), ch));
  CHECK(ch.back().old_perms == perms({"n1"}));
  CHECK(set_node_perms(tree, kGuest, "/local/domain/1", perms({"n0", "b1"}), ch).error() == EACCES);
  CHECK(set_node_perms(tree, kGuest, "@releaseDomain", perms({"n0", "r1"}), ch).error() == EACCES);
  REQUIRE(set_node_perms(tree, kDom0, "@releaseDomain", perms({"n0", "r1"}), ch));
}

TEST_CASE("xenstore quotas limit guests with the xenstored errors", "[xenstore]") {
  Quota quota;
  quota.max_nodes = 3;
  quota.max_value = 16;
  quota.max_depth = 6;
  quota.max_perms = 2;
  const Caller guest{1, false, &quota};
  Tree tree = domain_tree();  // data is owned by domain 1: one node already
  Changes ch;
  CHECK(write_node(tree, guest, "/local/domain/1/data/v", std::string(17, 'x'), ch).error() == ENOSPC);
  CHECK(write_node(tree, kDom0, "/x", std::string(XENSTORE_PAYLOAD_MAX + 1, 'x'), ch).error() == E2BIG);
  CHECK(write_node(tree, guest, "/local/domain/1/data/a/b/c", "", ch).error() == ENOSPC);  // depth 7
  REQUIRE(write_node(tree, guest, "/local/domain/1/data/a", "", ch));
  REQUIRE(write_node(tree, guest, "/local/domain/1/data/b", "", ch));
  CHECK(tree.owned_by(1) == 3);
  CHECK(write_node(tree, guest, "/local/domain/1/data/c", "", ch).error() == ENOSPC);
  CHECK(tree.find("/local/domain/1/data/c") == nullptr);
  CHECK(set_node_perms(tree, guest, "/local/domain/1/data/a", perms({"n1", "r2", "r3"}), ch).error() == ENOSPC);
  REQUIRE(remove_node(tree, guest, "/local/domain/1/data/a", ch));
  CHECK(write_node(tree, guest, "/local/domain/1/data/c", "", ch).has_value());
}

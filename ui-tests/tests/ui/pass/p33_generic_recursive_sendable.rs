// Generic `#[sendable]` types that contain themselves — through `Shared<Tree<T>>`, or with a
// parameter that only a field naming the type mentions (`Vec<(K, Box<Self>)>`) — compile,
// serialize and cross threads.
use taskpool::{Shared, TaskPool, concurrent, sendable};

#[sendable]
pub struct Tree<T> {
    pub value: T,
    pub children: Vec<Shared<Tree<T>>>,
}

#[sendable]
pub struct Trie<K> {
    pub terminal: bool,
    pub children: Vec<(K, Box<Self>)>,
}

#[concurrent]
fn total(tree: Shared<Tree<u32>>) -> u32 {
    tree.value + tree.children.iter().map(|child| total(child.clone())).sum::<u32>()
}

#[concurrent]
fn words(trie: Shared<Trie<char>>) -> usize {
    fn count(trie: &Trie<char>) -> usize {
        usize::from(trie.terminal) + trie.children.iter().map(|(_, c)| count(c)).sum::<usize>()
    }
    count(&trie)
}

#[concurrent]
fn depth(trie: Trie<char>) -> usize {
    1 + trie.children.into_iter().map(|(_, child)| depth(*child)).max().unwrap_or(0)
}

fn main() {
    let pool = TaskPool::builder().max_threads(2).build().unwrap();
    let leaf = |value| Shared::new(Tree { value, children: Vec::new() });
    let tree = Shared::new(Tree { value: 1, children: vec![leaf(2), leaf(3)] });
    assert_eq!(pool.run(total, (tree,)).wait().unwrap(), 6);

    let end = Trie { terminal: true, children: Vec::new() };
    let trie = Trie { terminal: false, children: vec![('a', Box::new(end))] };
    let shared = Shared::new(trie);
    assert_eq!(pool.run(words, (shared,)).wait().unwrap(), 1);
    let end = Trie { terminal: true, children: Vec::new() };
    let trie = Trie { terminal: false, children: vec![('b', Box::new(end))] };
    assert_eq!(pool.execute(depth::task(trie)).wait().unwrap(), 2);
}

/**
 * English given names and their common diminutives, used by the `nameAlias` normalizer to bring
 * a nickname to one formal name (debby → deborah, bob → robert). No maintained package with such
 * a list is published on the npm registry, so the list is kept here; instances add their own
 * through the unification configuration (`nameAliases`).
 *
 * Each line: formal name, then its diminutives. A diminutive listed under several formal names
 * maps to the first.
 */
const GROUPS = `
abigail abby abbie gail
abraham abe bram
albert al bert bertie
alexander alex alec alexis sandy xander lex
alexandra alex alexa sandra sandy lexi
alfred alf alfie fred freddie
alice ally allie
allison ali allie ally
amanda mandy manda
andrew andy drew
angela angie
anne ann annie nan nancy
anthony tony ant
antonia toni
arthur art artie
barbara barb barbie babs
benjamin ben benny benji
bernard bernie
beatrice bea trixie
bradley brad
brian bri
bridget biddy bridie
caroline carol carrie caro
catherine cathy cath kate katie kat cat kathy
charles charlie chuck chas chaz
charlotte lottie lotte charlie
christina chris chrissy tina christie
christine chris chrissy tina
christopher chris kit topher
clifford cliff
cynthia cindy
daniel dan danny
david dave davy davie
deborah debby debbie deb debra
dennis denny
dominic dom
donald don donnie
dorothy dot dottie dolly
douglas doug
edward ed eddie ted teddy ned
eleanor ellie nell nellie elle nora
elizabeth liz lizzie beth betty betsy eliza libby bess bessie lisa
emily em emmy millie
emma em
eugene gene
frances fran frankie fanny
francis frank frankie
frederick fred freddie freddy rick
gabriel gabe
gabrielle gabby gaby
geoffrey geoff jeff
gerald gerry jerry
gregory greg
harold harry hal
harriet hattie
helen nell nellie lena
henry harry hank hal
herbert herb bert
hugh hughie
isabel isabelle izzy bella belle isabella
jacob jake jack
james jim jimmy jamie jem
janet jan jenny
jane jenny jenn
jennifer jen jenny jenn
jessica jess jessie
joanna jo joanne
john jack johnny jon
jonathan jon jonny nathan
joseph joe joey jo
josephine jo josie
joshua josh
judith judy jude
julia julie jules
katherine kathy kate katie kay kat kathryn kathleen
kenneth ken kenny
kimberly kim kimmy
lawrence larry laurie
leonard leo len lenny
leslie les
louis lou louie
louise lou lulu
lucy lu
madeline maddie maddy madelyn madison
margaret maggie meg peggy marge margie greta daisy
marjorie marge margie
martin marty
mary molly polly mae mamie
matthew matt matty
melissa mel missy lissa
michael mike mikey mick mickey
michelle shelly michele
mitchell mitch
nathaniel nate nat nathan
nicholas nick nicky
nicola nicky nikki
olivia liv livvy
oliver ollie
pamela pam
patricia pat patty tricia trish
patrick pat paddy
peter pete
philip phil pip phillip
rachel rae
rebecca becky becca bec
richard rick ricky dick rich richie
robert bob bobby rob robbie bert
roger rodge
ronald ron ronnie
rosemary rose rosie
samantha sam sammy
samuel sam sammy
sarah sally sadie sara
stephanie steph stevie
stephen steve stevie steven
susan sue susie suzy
suzanne sue suzy
teresa terry tess tessa theresa
theodore ted teddy theo
thomas tom tommy
timothy tim timmy
valerie val
victoria vicky vicki tori
vincent vince vinnie
virginia ginny ginger
walter walt wally
william bill billy will willie liam
zachary zach zack
`;

/** Diminutive → formal name (and every formal name to itself). */
export const NAME_ALIASES: ReadonlyMap<string, string> = buildAliases(GROUPS);

function buildAliases(text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of text.split('\n')) {
    const [formal, ...nicknames] = line.trim().split(/\s+/).filter((w) => w !== '');
    if (!formal) continue;
    if (!map.has(formal)) map.set(formal, formal);
    for (const nickname of nicknames) if (!map.has(nickname)) map.set(nickname, formal);
  }
  return map;
}

//! The member area (`/espace-membre`): sign-in by a single-use link mailed through the
//! ledger and bound to the browser that asked; a member's ads (post, preview, edit while
//! waiting, withdraw, extend); the public request to become a member.

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::{header, request::Parts, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::desk::{cookie, hash_token, random_token};
use super::{AppState, ClientIp, Policy, WebError};
use crate::audience::{Scope, MEMBER_LINK_MINUTES};
use crate::domain::ad::{self, AdDraft, AdInput, FieldError};
use crate::domain::{self, AdCategory, EmailAddress};
use crate::render::french_date;
use crate::store::{AdActor, AdChange, AdRow, LoginRefusal, MemberSession, NewMember};

const SESSION_COOKIE: &str = "relais_membre";
/// The random value kept by the browser that asked for a link; the link works only there.
const ASK_COOKIE: &str = "relais_membre_demande";
const SESSION_HOURS: i64 = 8;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/espace-membre", get(area))
        .route("/espace-membre/connexion", get(ask_page).post(ask))
        .route("/espace-membre/entrer/{token}", get(enter_page).post(enter))
        .route("/espace-membre/deconnexion", post(logout))
        .route("/espace-membre/adhesion", get(join_page).post(join))
        .route(
            "/espace-membre/annonces/nouvelle",
            get(new_ad_page).post(new_ad),
        )
        .route("/espace-membre/annonces/{id}", get(ad_page).post(edit_ad))
        .route("/espace-membre/annonces/{id}/retirer", post(withdraw))
        .route("/espace-membre/annonces/{id}/prolonger", post(extend))
        .route(
            "/espace-membre/prolonger/{token}",
            get(extend_link_page).post(extend_link),
        )
        .route("/espace-membre/apercu", get(preview))
}

/// A signed-in member; pages that take one send others to the sign-in form.
pub struct Member {
    session: MemberSession,
    token_hash: String,
}

impl Member {
    fn actor(&self) -> AdActor {
        AdActor::Member {
            member_id: self.session.member_id,
            person_id: self.session.person_id,
        }
    }

    fn check_csrf(&self, sent: &str) -> Result<(), WebError> {
        use subtle::ConstantTimeEq;
        if bool::from(self.session.csrf_token.as_bytes().ct_eq(sent.as_bytes())) {
            Ok(())
        } else {
            Err(WebError::BadRequest(
                "Ce formulaire a expiré : rechargez la page et recommencez.".into(),
            ))
        }
    }

    fn chrome(&self) -> serde_json::Value {
        serde_json::json!({
            "org": self.session.org_name,
            "email": self.session.email,
            "csrf": self.session.csrf_token,
        })
    }
}

impl FromRequestParts<AppState> for Member {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Response> {
        let to_login = || Redirect::to("/espace-membre/connexion").into_response();
        let token = cookie(&parts.headers, SESSION_COOKIE).ok_or_else(to_login)?;
        let token_hash = hash_token(&token);
        match app.store.member_session(&token_hash).await {
            Ok(Some(session)) => Ok(Member {
                session,
                token_hash,
            }),
            Ok(None) => Err(to_login()),
            Err(e) => Err(WebError::from(e).into_response()),
        }
    }
}

fn secure(app: &AppState) -> &'static str {
    if app.config.base_url.scheme() == "https" {
        "; Secure"
    } else {
        ""
    }
}

fn page(
    app: &AppState,
    template: &str,
    title: &str,
    data: &serde_json::Value,
) -> Result<String, WebError> {
    Ok(app.pages.render(template, title, data)?)
}

// ---- Sign-in ----------------------------------------------------------------------------

#[derive(Deserialize)]
struct AskForm {
    email: String,
}

async fn ask_page(State(app): State<AppState>, headers: HeaderMap) -> Result<Response, WebError> {
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        if app
            .store
            .member_session(&hash_token(&token))
            .await?
            .is_some()
        {
            return Ok(Redirect::to("/espace-membre").into_response());
        }
    }
    let html = page(
        &app,
        "member-ask",
        "Espace membre",
        &serde_json::json!({ "email": "", "error": null, "minutes": MEMBER_LINK_MINUTES }),
    )?;
    Ok(Html(html).into_response())
}

/// Mails a sign-in link when the address is a member's. The answer is the same whether it
/// is or not; only the browser that asked can use the link.
async fn ask(
    State(app): State<AppState>,
    ClientIp(client): ClientIp,
    Form(form): Form<AskForm>,
) -> Result<Response, WebError> {
    let Ok(email) = EmailAddress::parse(&form.email) else {
        let html = page(
            &app,
            "member-ask",
            "Espace membre",
            &serde_json::json!({
                "email": form.email.trim(),
                "error": "Cette adresse n'est pas valide : vérifiez-la.",
                "minutes": MEMBER_LINK_MINUTES,
            }),
        )?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(html)).into_response());
    };
    if !app.limits.allow_ip(client) || !app.limits.allow_member_link(email.as_str()) {
        return Err(WebError::TooManyRequests);
    }
    let browser = random_token();
    if let Some(person) = app.store.person_by_email(email.as_str()).await? {
        if person.member_state == "active" {
            app.store
                .create_member_login(
                    person.id,
                    email.as_str(),
                    &hash_token(&browser),
                    chrono::Duration::minutes(i64::from(MEMBER_LINK_MINUTES)),
                    &app.config.mail_domain(),
                )
                .await?;
            app.dispatcher.wake();
        }
    }
    let cookie = format!(
        "{ASK_COOKIE}={browser}; Path=/espace-membre; HttpOnly; SameSite=Lax; Max-Age={}{}",
        MEMBER_LINK_MINUTES * 60,
        secure(&app)
    );
    let html = page(
        &app,
        "member-sent",
        "Vérifiez votre messagerie",
        &serde_json::json!({ "email": email.as_str(), "minutes": MEMBER_LINK_MINUTES }),
    )?;
    Ok(([(header::SET_COOKIE, cookie)], Html(html)).into_response())
}

/// The link's row and nonce, if its signature holds and it has not expired.
fn read_link(app: &AppState, token: &str) -> Result<(i64, String), WebError> {
    let claims = app
        .links
        .signer
        .verify(Scope::MemberLogin, token, chrono::Utc::now())
        .map_err(|_| spent_link())?;
    Ok((claims.newsletter_id, claims.key))
}

fn spent_link() -> WebError {
    WebError::BadRequest(
        "Ce lien de connexion a déjà servi, a été remplacé par un plus récent ou a expiré (il vaut 15 minutes). \
         Demandez-en un nouveau depuis la page « Espace membre »."
            .into(),
    )
}

/// A page with one button: mail scanners that open links must not spend a single-use link.
async fn enter_page(
    State(app): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    read_link(&app, &token)?;
    let html = page(
        &app,
        "member-enter",
        "Entrer dans l'espace membre",
        &serde_json::json!({ "token": token }),
    )?;
    Ok(Html(html).into_response())
}

async fn enter(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let (id, nonce) = read_link(&app, &token)?;
    let browser = cookie(&headers, ASK_COOKIE).map(|b| hash_token(&b));
    let person = match app
        .store
        .use_member_login(id, &nonce, browser.as_deref())
        .await?
    {
        Ok(person) => person,
        Err(LoginRefusal::Spent) => return Err(spent_link()),
        Err(LoginRefusal::OtherBrowser) => {
            return Err(WebError::BadRequest(
                "Ce lien ne s'ouvre que dans le navigateur où vous l'avez demandé. \
                 Ouvrez-le là, ou demandez un nouveau lien depuis ce navigateur-ci (page « Espace membre »)."
                    .into(),
            ))
        }
    };
    let token = random_token();
    app.store
        .create_member_session(
            person,
            &hash_token(&token),
            &random_token(),
            chrono::Duration::hours(SESSION_HOURS),
        )
        .await?;
    let secure = secure(&app);
    let session = format!(
        "{SESSION_COOKIE}={token}; Path=/espace-membre; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        SESSION_HOURS * 3600
    );
    let spent = format!("{ASK_COOKIE}=; Path=/espace-membre; HttpOnly; SameSite=Lax; Max-Age=0");
    let mut response = Redirect::to("/espace-membre").into_response();
    for c in [session, spent] {
        response.headers_mut().append(
            header::SET_COOKIE,
            c.parse()
                .map_err(|e: header::InvalidHeaderValue| WebError::Internal(e.into()))?,
        );
    }
    Ok(response)
}

#[derive(Deserialize)]
struct CsrfOnly {
    csrf: String,
}

async fn logout(
    State(app): State<AppState>,
    member: Member,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, WebError> {
    member.check_csrf(&form.csrf)?;
    app.store.end_member_session(&member.token_hash).await?;
    let expired =
        format!("{SESSION_COOKIE}=; Path=/espace-membre; HttpOnly; SameSite=Lax; Max-Age=0");
    Ok((
        [(header::SET_COOKIE, expired)],
        Redirect::to("/espace-membre/connexion"),
    )
        .into_response())
}

// ---- Becoming a member --------------------------------------------------------------------

#[derive(Deserialize, Default)]
struct JoinForm {
    #[serde(default)]
    org_name: String,
    #[serde(default)]
    contact_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    college: String,
    #[serde(default)]
    departement: String,
    /// A honeypot: people leave it empty.
    #[serde(default)]
    website: String,
}

fn join_view(form: &JoinForm, errors: &[FieldError]) -> serde_json::Value {
    serde_json::json!({
        "org_name": form.org_name.trim(),
        "contact_name": form.contact_name.trim(),
        "email": form.email.trim(),
        "colleges": domain::COLLEGES.iter().map(|c| serde_json::json!({
            "value": c, "label": college_label(c), "selected": *c == form.college,
        })).collect::<Vec<_>>(),
        "departements": departement_options(&form.departement),
        "errors": errors_by_field(errors),
        "error_list": errors,
    })
}

async fn join_page(State(app): State<AppState>) -> Result<Response, WebError> {
    let html = page(
        &app,
        "member-join",
        "Devenir membre",
        &join_view(&JoinForm::default(), &[]),
    )?;
    Ok(Html(html).into_response())
}

async fn join(
    State(app): State<AppState>,
    ClientIp(client): ClientIp,
    Form(form): Form<JoinForm>,
) -> Result<Response, WebError> {
    if !app.limits.allow_ip(client) {
        return Err(WebError::TooManyRequests);
    }
    let mut errors = Vec::new();
    let mut refuse = |field: &'static str, message: &str| {
        errors.push(FieldError {
            field,
            message: message.into(),
        })
    };
    let org_name = crate::render::printable_line(form.org_name.trim());
    if org_name.is_empty() || org_name.chars().count() > 200 {
        refuse(
            "org_name",
            "Indiquez le nom de votre structure (200 caractères au plus).",
        );
    }
    let contact_name = crate::render::printable_line(form.contact_name.trim());
    if contact_name.is_empty() || contact_name.chars().count() > 200 {
        refuse(
            "contact_name",
            "Indiquez le nom de la personne à contacter.",
        );
    }
    let email = EmailAddress::parse(&form.email);
    if email.is_err() {
        refuse("email", "Cette adresse n'est pas valide : vérifiez-la.");
    }
    if !domain::COLLEGES.contains(&form.college.as_str()) {
        refuse(
            "college",
            "Choisissez le type de votre structure dans la liste.",
        );
    }
    if !domain::DEPARTEMENTS.contains(&form.departement.as_str()) {
        refuse(
            "departement",
            "Choisissez un département d'Occitanie dans la liste.",
        );
    }
    let (Ok(email), true) = (email, errors.is_empty()) else {
        let html = page(
            &app,
            "member-join",
            "Devenir membre",
            &join_view(&form, &errors),
        )?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(html)).into_response());
    };
    if form.website.is_empty() {
        let added = app
            .store
            .add_member(
                &NewMember {
                    email: email.as_str(),
                    org_name: &org_name,
                    contact_name: &contact_name,
                    college: Some(&form.college),
                    departement: Some(&form.departement),
                },
                "pending",
            )
            .await;
        // An address already known gets the same answer: the form tells nobody who is a
        // member.
        match added {
            Ok(_) | Err(crate::store::StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let html = app.pages.notice(
        "Demande enregistrée",
        &[
            "Merci ! La rédaction examine votre demande.",
            "Dès qu'elle est acceptée, vous publiez vos annonces depuis l'espace membre : vous vous y connectez avec cette adresse, par un lien reçu par courriel.",
        ],
        None,
    )?;
    Ok(Html(html).into_response())
}

// ---- The member's ads -----------------------------------------------------------------------

pub(super) fn college_label(code: &str) -> &'static str {
    match code {
        "collectivite" => "Collectivité territoriale",
        "entreprise" => "Entreprise",
        "association" => "Association",
        "recherche" => "Recherche et enseignement",
        "etablissement-public" => "Établissement public",
        _ => "Autre",
    }
}

/// The category's name for one ad (the newsletter's headings are plural).
pub(super) fn category_label(code: &str) -> &'static str {
    match AdCategory::parse(code) {
        Some(AdCategory::DonMateriel) => "Don de matériel",
        Some(AdCategory::RechercheMateriel) => "Recherche de matériel",
        Some(AdCategory::TransportPartage) => "Transport partagé",
        Some(AdCategory::MissionVolontariat) => "Mission de volontariat",
        Some(AdCategory::RecherchePartenaires) => "Recherche de partenaires",
        Some(AdCategory::Evenement) => "Événement",
        Some(AdCategory::Autre) | None => "Autre",
    }
}

/// Where an ad stands, in the member's words.
pub(super) fn state_label(ad: &AdRow) -> String {
    match ad.state.as_str() {
        "pending" => "En attente de validation".into(),
        "approved" => format!(
            "Publiée jusqu'au {} — elle paraît sur le site et dans les prochains numéros des Échos du Réseau",
            french_date(ad.expires_on)
        ),
        "rejected" => "Refusée".into(),
        "withdrawn" => "Retirée".into(),
        _ => format!("Échue le {}", french_date(ad.expires_on)),
    }
}

pub(super) fn departement_options(chosen: &str) -> Vec<serde_json::Value> {
    domain::DEPARTEMENTS
        .iter()
        .map(|d| {
            serde_json::json!({
                "value": d, "label": domain::departement_label(d), "selected": *d == chosen,
            })
        })
        .collect()
}

/// Every field's refusal, `null` where there is none (templates are strict: a key they name
/// must exist).
pub(super) fn errors_by_field(errors: &[FieldError]) -> serde_json::Value {
    const FIELDS: &[&str] = &[
        "category",
        "title",
        "body",
        "departement",
        "country",
        "contact_email",
        "contact_phone",
        "expires_on",
        "org_name",
        "contact_name",
        "email",
        "college",
        "reason",
    ];
    let mut map: serde_json::Map<String, serde_json::Value> = FIELDS
        .iter()
        .map(|f| (f.to_string(), serde_json::Value::Null))
        .collect();
    for e in errors {
        if !map[e.field].is_null() {
            continue;
        }
        map.insert(e.field.into(), serde_json::Value::String(e.message.clone()));
    }
    serde_json::Value::Object(map)
}

/// The ad form as posted: the fields of [`AdInput`], the two « show » boxes and the button.
#[derive(Deserialize, Default, Clone)]
pub(super) struct AdForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub departement: String,
    #[serde(default)]
    pub country: String,
    #[serde(default)]
    pub show_email: Option<String>,
    #[serde(default)]
    pub contact_email: String,
    #[serde(default)]
    pub show_phone: Option<String>,
    #[serde(default)]
    pub contact_phone: String,
    #[serde(default)]
    pub expires_on: String,
    /// `apercu` or `envoyer`.
    #[serde(default)]
    pub action: String,
}

impl AdForm {
    pub(super) fn input(&self) -> AdInput {
        AdInput {
            category: self.category.clone(),
            title: self.title.clone(),
            body: self.body.clone(),
            departement: self.departement.clone(),
            country: Some(self.country.clone()),
            contact_email: self
                .show_email
                .is_some()
                .then(|| self.contact_email.clone()),
            contact_phone: self
                .show_phone
                .is_some()
                .then(|| self.contact_phone.clone()),
            expires_on: Some(self.expires_on.clone()),
        }
    }

    pub(super) fn from_ad(ad: &AdRow) -> Self {
        Self {
            category: ad.category.clone(),
            title: ad.title.clone(),
            body: ad.body.clone(),
            departement: ad.departement.clone().unwrap_or_default(),
            country: ad.country.clone().unwrap_or_default(),
            show_email: ad.contact_email.as_ref().map(|_| "oui".into()),
            contact_email: ad.contact_email.clone().unwrap_or_default(),
            show_phone: ad.contact_phone.as_ref().map(|_| "oui".into()),
            contact_phone: ad.contact_phone.clone().unwrap_or_default(),
            expires_on: ad.expires_on.to_string(),
            ..Self::default()
        }
    }

    /// The preview's address: the same fields as a query string.
    fn preview_query(&self) -> String {
        let input = self.input();
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("category", &input.category)
            .append_pair("title", &input.title)
            .append_pair("body", &input.body)
            .append_pair("departement", &input.departement)
            .append_pair("country", input.country.as_deref().unwrap_or(""))
            .append_pair(
                "contact_email",
                input.contact_email.as_deref().unwrap_or(""),
            )
            .append_pair(
                "contact_phone",
                input.contact_phone.as_deref().unwrap_or(""),
            )
            .append_pair("expires_on", input.expires_on.as_deref().unwrap_or(""));
        q.finish()
    }
}

/// The form's data: the fields as typed, the lists, the errors next to their fields.
pub(super) fn ad_form_view(
    form: &AdForm,
    errors: &[FieldError],
    today: chrono::NaiveDate,
) -> serde_json::Value {
    serde_json::json!({
        "category": form.category,
        "categories": AdCategory::ALL.iter().map(|c| serde_json::json!({
            "value": c.as_str(), "label": category_label(c.as_str()), "selected": c.as_str() == form.category,
        })).collect::<Vec<_>>(),
        "title": form.title,
        "body": form.body,
        "departements": departement_options(&form.departement),
        "countries": domain::COUNTRIES.iter().map(|(code, name)| serde_json::json!({
            "value": code, "label": name, "selected": *code == form.country,
        })).collect::<Vec<_>>(),
        "show_email": form.show_email.is_some(),
        "contact_email": form.contact_email,
        "show_phone": form.show_phone.is_some(),
        "contact_phone": form.contact_phone,
        "expires_on": if form.expires_on.is_empty() {
            (today + chrono::Duration::days(ad::DEFAULT_DAYS)).to_string()
        } else {
            form.expires_on.clone()
        },
        "min_date": (today + chrono::Duration::days(1)).to_string(),
        "max_date": (today + chrono::Duration::days(ad::MAX_DAYS)).to_string(),
        "max_title": ad::MAX_TITLE_CHARS,
        "max_body": ad::MAX_BODY_CHARS,
        "errors": errors_by_field(errors),
        "error_list": errors,
    })
}

async fn area(State(app): State<AppState>, member: Member) -> Result<Response, WebError> {
    let ads = app.store.member_ads(member.session.member_id).await?;
    let today = app.today();
    let html = page(
        &app,
        "member-area",
        "Espace membre",
        &serde_json::json!({
            "member": member.chrome(),
            "ads": ads.iter().map(|a| serde_json::json!({
                "id": a.id,
                "title": a.title,
                "category": category_label(&a.category),
                "state": a.state,
                "state_label": state_label(a),
                "reason": a.reject_reason,
                "soon": matches!(a.state.as_str(), "pending" | "approved")
                    && a.expires_on <= today + chrono::Duration::days(14),
                "editable": matches!(a.state.as_str(), "pending" | "rejected"),
            })).collect::<Vec<_>>(),
        }),
    )?;
    Ok(Html(html).into_response())
}

async fn new_ad_page(State(app): State<AppState>, member: Member) -> Result<Response, WebError> {
    let form = AdForm {
        show_email: Some("oui".into()),
        contact_email: member.session.email.clone(),
        ..AdForm::default()
    };
    render_ad_form(&app, &member, None, &form, &[], None, StatusCode::OK)
}

/// The form page: a new ad (`ad` is `None`) or one of the member's that may still change.
fn render_ad_form(
    app: &AppState,
    member: &Member,
    ad: Option<&AdRow>,
    form: &AdForm,
    errors: &[FieldError],
    preview: Option<String>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let mut data = ad_form_view(form, errors, app.today());
    data["member"] = member.chrome();
    data["preview"] = serde_json::json!(preview);
    data["action"] = serde_json::json!(match ad {
        Some(ad) => format!("/espace-membre/annonces/{}", ad.id),
        None => "/espace-membre/annonces/nouvelle".into(),
    });
    data["ad"] = match ad {
        Some(ad) => serde_json::json!({
            "id": ad.id,
            "state_label": state_label(ad),
            "reason": ad.reject_reason,
            "rejected": ad.state == "rejected",
        }),
        None => serde_json::Value::Null,
    };
    let title = if ad.is_some() {
        "Modifier l'annonce"
    } else {
        "Nouvelle annonce"
    };
    let html = page(app, "member-ad-form", title, &data)?;
    Ok((status, Html(html)).into_response())
}

/// Checks the posted ad; on « Aperçu » or a refusal, the form comes back filled in.
fn read_ad_form(
    app: &AppState,
    member: &Member,
    ad: Option<&AdRow>,
    form: &AdForm,
) -> Result<Result<AdDraft, Response>, WebError> {
    member.check_csrf(&form.csrf)?;
    match ad::validate(&form.input(), app.today()) {
        Err(errors) => Ok(Err(render_ad_form(
            app,
            member,
            ad,
            form,
            &errors,
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        )?)),
        Ok(_) if form.action == "apercu" => Ok(Err(render_ad_form(
            app,
            member,
            ad,
            form,
            &[],
            Some(format!("/espace-membre/apercu?{}", form.preview_query())),
            StatusCode::OK,
        )?)),
        Ok(draft) => Ok(Ok(draft)),
    }
}

async fn new_ad(
    State(app): State<AppState>,
    member: Member,
    Form(form): Form<AdForm>,
) -> Result<Response, WebError> {
    let draft = match read_ad_form(&app, &member, None, &form)? {
        Ok(draft) => draft,
        Err(page) => return Ok(page),
    };
    let html = crate::desk::ads::body_html(&draft.body, &app.config.base_url);
    let id = app
        .store
        .create_ad(
            member.session.member_id,
            member.session.person_id,
            &draft,
            &html,
        )
        .await?;
    Ok(Redirect::to(&format!("/espace-membre/annonces/{id}?envoyee=1")).into_response())
}

#[derive(Deserialize)]
struct AdPageQuery {
    envoyee: Option<String>,
}

async fn ad_page(
    State(app): State<AppState>,
    member: Member,
    Path(id): Path<i64>,
    Query(q): Query<AdPageQuery>,
) -> Result<Response, WebError> {
    let ad = app.store.member_ad(member.session.member_id, id).await?;
    if matches!(ad.state.as_str(), "pending" | "rejected") && q.envoyee.is_none() {
        return render_ad_form(
            &app,
            &member,
            Some(&ad),
            &AdForm::from_ad(&ad),
            &[],
            None,
            StatusCode::OK,
        );
    }
    let events = app.store.ad_events(id).await?;
    let today = app.today();
    let html = page(
        &app,
        "member-ad",
        &ad.title,
        &serde_json::json!({
            "member": member.chrome(),
            "sent": q.envoyee.is_some(),
            "ad": {
                "id": ad.id,
                "title": ad.title,
                "body_html": ad.body_html,
                "category": category_label(&ad.category),
                "departement": ad.departement.as_deref().map(domain::departement_label),
                "state_label": state_label(&ad),
                "reason": ad.reject_reason,
                "editable": matches!(ad.state.as_str(), "pending" | "rejected"),
                "withdrawable": matches!(ad.state.as_str(), "pending" | "approved" | "rejected"),
                "extendable": matches!(ad.state.as_str(), "pending" | "approved")
                    && ad::extended(ad.expires_on, today) > ad.expires_on,
                "extended_to": french_date(ad::extended(ad.expires_on, today)),
                "public": ad.state == "approved",
            },
            "events": events.iter().map(|e| serde_json::json!({
                "label": event_label(&e.action),
                "at": super::composer::french_moment(e.at, app.config.timezone),
                "reason": e.reason,
            })).collect::<Vec<_>>(),
        }),
    )?;
    Ok(Html(html).into_response())
}

pub(super) fn event_label(action: &str) -> &'static str {
    match action {
        "submitted" => "Envoyée pour validation",
        "edited" => "Modifiée",
        "approved" => "Validée par la rédaction",
        "rejected" => "Refusée par la rédaction",
        "withdrawn" => "Retirée",
        "extended" => "Prolongée",
        _ => "Échue",
    }
}

async fn edit_ad(
    State(app): State<AppState>,
    member: Member,
    Path(id): Path<i64>,
    Form(form): Form<AdForm>,
) -> Result<Response, WebError> {
    let ad = app.store.member_ad(member.session.member_id, id).await?;
    let draft = match read_ad_form(&app, &member, Some(&ad), &form)? {
        Ok(draft) => draft,
        Err(page) => return Ok(page),
    };
    let html = crate::desk::ads::body_html(&draft.body, &app.config.base_url);
    match app.store.edit_ad(id, member.actor(), &draft, &html).await? {
        AdChange::Done => {
            Ok(Redirect::to(&format!("/espace-membre/annonces/{id}?envoyee=1")).into_response())
        }
        AdChange::NotNow => Err(WebError::Conflict(
            "Cette annonce a déjà été validée, retirée ou est échue : elle ne se modifie plus. \
             Retirez-la et publiez-en une nouvelle si besoin."
                .into(),
        )),
    }
}

#[derive(Deserialize)]
struct ConfirmForm {
    csrf: String,
    #[serde(default)]
    confirm: Option<String>,
}

/// Withdraws an ad, after one confirmation.
async fn withdraw(
    State(app): State<AppState>,
    member: Member,
    Path(id): Path<i64>,
    Form(form): Form<ConfirmForm>,
) -> Result<Response, WebError> {
    member.check_csrf(&form.csrf)?;
    let ad = app.store.member_ad(member.session.member_id, id).await?;
    if form.confirm.is_none() {
        let html = page(
            &app,
            "member-confirm",
            "Retirer l'annonce",
            &serde_json::json!({
                "member": member.chrome(),
                "question": format!("Retirer l'annonce « {} » ?", ad.title),
                "detail": "Elle quitte aussitôt le site et les prochains numéros des Échos du Réseau. Ce retrait est définitif.",
                "action": format!("/espace-membre/annonces/{id}/retirer"),
                "button": "Oui, retirer l'annonce",
                "back": format!("/espace-membre/annonces/{id}?envoyee=1"),
            }),
        )?;
        return Ok(Html(html).into_response());
    }
    match app
        .store
        .withdraw_ad(id, member.session.member_id, member.session.person_id)
        .await?
    {
        AdChange::Done | AdChange::NotNow => Ok(Redirect::to("/espace-membre").into_response()),
    }
}

async fn extend(
    State(app): State<AppState>,
    member: Member,
    Path(id): Path<i64>,
    Form(form): Form<CsrfOnly>,
) -> Result<Response, WebError> {
    member.check_csrf(&form.csrf)?;
    let ad = app.store.member_ad(member.session.member_id, id).await?;
    let to = ad::extended(ad.expires_on, app.today());
    match app.store.extend_ad(id, member.actor(), to).await? {
        AdChange::Done => {
            Ok(Redirect::to(&format!("/espace-membre/annonces/{id}?envoyee=1")).into_response())
        }
        AdChange::NotNow => Err(WebError::Conflict(
            "Cette annonce est retirée ou échue : elle ne se prolonge plus.".into(),
        )),
    }
}

/// The ad an expiry notice's link names, if the link is genuine and the ad still has the
/// expiry the notice announced.
async fn read_extension(app: &AppState, token: &str) -> Result<AdRow, WebError> {
    let claims = app
        .links
        .signer
        .verify(Scope::ExtendAd, token, chrono::Utc::now())
        .map_err(WebError::BadLink)?;
    let ad = app.store.ad(claims.newsletter_id).await?;
    let current = crate::audience::ad_extension_key(ad.created_at, ad.expires_on);
    if current != claims.key || ad.state != "approved" {
        return Err(WebError::BadRequest(
            "Ce lien a déjà servi, ou l'annonce est retirée ou échue. Connectez-vous à l'espace membre pour la voir."
                .into(),
        ));
    }
    Ok(ad)
}

async fn extend_link_page(
    State(app): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let ad = read_extension(&app, &token).await?;
    let to = ad::extended(ad.expires_on, app.today());
    let html = page(
        &app,
        "member-extend",
        "Prolonger l'annonce",
        &serde_json::json!({
            "title": ad.title,
            "until": french_date(ad.expires_on),
            "to": french_date(to),
            "token": token,
        }),
    )?;
    Ok(Html(html).into_response())
}

async fn extend_link(
    State(app): State<AppState>,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let ad = read_extension(&app, &token).await?;
    let to = ad::extended(ad.expires_on, app.today());
    let actor = AdActor::Member {
        member_id: ad.member_id,
        // The notice went to the person who posted it; the event names the organisation's
        // first person when that is unknown.
        person_id: app
            .store
            .member_people(ad.member_id)
            .await?
            .first()
            .map(|p| p.id)
            .unwrap_or(0),
    };
    app.store.extend_ad(ad.id, actor, to).await?;
    let until = format!("Elle paraît désormais jusqu'au {}.", french_date(to));
    let html = app.pages.notice(
        "Annonce prolongée",
        &[
            &format!("Votre annonce « {} » est prolongée.", ad.title),
            &until,
        ],
        None,
    )?;
    Ok(Html(html).into_response())
}

/// The ad as Les Échos du Réseau will print it, inside the form page's frame.
async fn preview(
    State(app): State<AppState>,
    member: Member,
    Query(input): Query<AdInput>,
) -> Result<Response, WebError> {
    let draft = ad::validate(&input, app.today()).map_err(|errors| {
        WebError::BadRequest(
            errors
                .iter()
                .map(|e| e.message.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        )
    })?;
    let html = crate::desk::ads::preview(
        &app.renderer,
        &app.links,
        &app.masthead,
        &draft,
        &member.session.org_name,
    )?;
    Ok(Policy::FramedIssue.on((
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()))
}
